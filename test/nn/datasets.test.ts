import { describe, expect, it } from 'vitest';
import { loadBuiltinDataset, loadMnist, normalize, pixelStats, subset } from '../../src/nn/datasets.js';
import { ConfigError } from '../../src/nn/errors.js';

describe('built-in mnist', () => {
  const mnist = loadMnist();

  it('splits the 10,000 digits into 8,000 training and 2,000 test images of [1, 28, 28]', () => {
    expect(mnist.inputShape).toEqual([1, 28, 28]);
    expect(mnist.train.images.shape).toEqual([8000, 1, 28, 28]);
    expect(mnist.train.images.dtype).toBe('float32');
    expect(mnist.train.labels.shape).toEqual([8000]);
    expect(mnist.train.labels.dtype).toBe('int64');
    expect(mnist.test.images.shape).toEqual([2000, 1, 28, 28]);
    expect(mnist.test.labels.shape).toEqual([2000]);
  });

  it('has pixels in [0, 1], labels 0-9, and every class in both parts', () => {
    for (const part of [mnist.train, mnist.test]) {
      let min = Infinity;
      let max = -Infinity;
      for (const v of part.images.data) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      expect(min).toBe(0);
      expect(max).toBe(1);
      const counts = new Array<number>(10).fill(0);
      for (const label of part.labels.data) counts[label]!++;
      for (const c of counts) expect(c).toBeGreaterThan(part.labels.data.length / 20);
    }
  });

  it('puts no image in both parts', () => {
    const fingerprint = (data: Float32Array | Float64Array, i: number) => data.subarray(i * 784, (i + 1) * 784).join(',');
    const trainImages = new Set<string>();
    for (let i = 0; i < 8000; i++) trainImages.add(fingerprint(mnist.train.images.data, i));
    let shared = 0;
    for (let i = 0; i < 2000; i++) if (trainImages.has(fingerprint(mnist.test.images.data, i))) shared++;
    expect(shared).toBe(0);
    expect(loadBuiltinDataset('mnist')).toBe(mnist);
  });

  it('subset shares storage and keeps the first samples', () => {
    const small = subset(mnist.train, 100);
    expect(small.images.shape).toEqual([100, 1, 28, 28]);
    expect(small.labels.data).toEqual(mnist.train.labels.data.subarray(0, 100));
    expect(small.images.data.buffer).toBe(mnist.train.images.data.buffer);
  });

  it('normalize standardises the pixels with the given statistics', () => {
    const stats = pixelStats(mnist.train);
    // MNIST digits are mostly background: the mean is about 0.13 and the deviation about 0.31.
    expect(stats.mean).toBeGreaterThan(0.1);
    expect(stats.mean).toBeLessThan(0.16);
    const standard = pixelStats(normalize(mnist.train, stats.mean, stats.std));
    expect(standard.mean).toBeCloseTo(0, 5);
    expect(standard.std).toBeCloseTo(1, 5);
    expect(normalize(mnist.test, 0.5, 2).images.data[0]).toBeCloseTo((mnist.test.images.data[0]! - 0.5) / 2, 6);
  });

  it('unknown datasets are a ConfigError', () => {
    expect(() => loadBuiltinDataset('cifar10')).toThrow(ConfigError);
  });
});
