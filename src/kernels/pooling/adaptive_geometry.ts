/**
 * What adaptive average and max pooling share: reading `output_size` as torch.nn.functional does,
 * PyTorch's argument checks, and the window of each output.
 *
 * 1d and 2d pooling are computed as 3d pooling over planes with leading sizes of 1, as ATen runs
 * 1d through 2d: a window of extent 1 divides by 1 and indexes the same cell, so values, indices
 * and rounding are unchanged.
 */
import { KernelArgumentError, check, formatSizes } from '../errors.js';
import { argumentTypeError, isInt, pythonTypeName } from '../arguments.js';

export type PoolDims = 1 | 2 | 3;

export interface AdaptiveOptions {
  /** An int, or a tuple of ints; in 2d and 3d an entry may be null (None) to keep that input size. */
  readonly output_size: number | readonly (number | null)[];
}

/** The pooling of one call, with every size given as (D, H, W). */
export interface AdaptiveWindows {
  /** Number of (n, c) planes. */
  readonly planes: number;
  readonly inSize: readonly [number, number, number];
  readonly outSize: readonly [number, number, number];
  readonly outputShape: readonly number[];
}

/**
 * `output_size` as a list of ints, as torch.nn.functional hands it to ATen: 2d and 3d go through
 * `_list_with_default` (None entries take the input's size), an int stands for every pooled dim,
 * and the 1d functions take ints only.
 */
export function readOutputSize(fn: string, dims: PoolDims, inputShape: readonly number[], value: unknown): number[] {
  if (isInt(value)) return new Array<number>(dims).fill(value);
  if (!Array.isArray(value)) throw argumentTypeError(fn, 'output_size', 'tuple of ints', value);
  if (dims > 1 && inputShape.length <= value.length) {
    throw new KernelArgumentError(`Input dimension should be at least ${value.length + 1}`, 'ValueError');
  }
  return value.map((entry: unknown, i) => {
    if (entry === null && dims > 1) return inputShape[inputShape.length - value.length + i]!;
    if (!isInt(entry)) {
      throw new KernelArgumentError(
        `${fn}(): argument 'output_size' must be tuple of ints, but found element of type ${pythonTypeName(entry)} at pos ${i + 1}`,
        'TypeError',
      );
    }
    return entry;
  });
}

/** ATen's checkDimRange for the 1d functions (rank 2 or 3). */
export function check1dRank(fn: string, shape: readonly number[]): void {
  check(
    shape.length >= 2 && shape.length <= 3,
    () => `Expected 2 to 3 dimensions, but got ${shape.length}-dimensional tensor for argument #1 'self' (while checking arguments for ${fn})`,
  );
}

/** ATen's check1d: a 1d output_size has exactly one entry. */
export function check1dOutputSize(fn: string, size: readonly number[]): void {
  check(size.length === 1, () => `${fn}() argument 'output_size' should contain one int (got ${size.length})`);
}

/** Every dim from `first` on must be non-empty (the batch dim may be 0). */
export function checkNonEmpty(prefix: string, shape: readonly number[], first: number, what = 'input'): void {
  for (let i = first; i < shape.length; i++) {
    check(
      shape[i]! > 0,
      () => `${prefix}: Expected ${what} to have non-zero size for non-batch dimensions, but ${what} has sizes ${formatSizes(shape)} with dimension ${i} being empty`,
    );
  }
}

/** ATen's check_size_nonnegative, raised when an output of negative size would be created. */
export function checkOutputShape(shape: readonly number[]): void {
  const negative = shape.find((d) => d < 0);
  check(negative === undefined, () => `Trying to create tensor with negative dimension ${negative}: ${formatSizes(shape)}`);
}

/**
 * The windows along the last `dims` dims of `inputShape` for `outputSize` (one entry per pooled
 * dim). The caller has checked the arguments.
 */
export function adaptiveWindows(inputShape: readonly number[], dims: PoolDims, outputSize: readonly number[]): AdaptiveWindows {
  const lead = inputShape.slice(0, inputShape.length - dims);
  let planes = 1;
  for (const d of lead) planes *= d;
  const pooled = inputShape.slice(inputShape.length - dims);
  const pad = (sizes: readonly number[]) => [...new Array<number>(3 - dims).fill(1), ...sizes] as [number, number, number];
  return { planes, inSize: pad(pooled), outSize: pad(outputSize), outputShape: [...lead, ...outputSize] };
}

/**
 * Window bounds along one dim: output i reads input [start[i], end[i]). PyTorch 1.13 computes
 * `floor((float)(i*L) / O)` and `ceil((float)((i+1)*L) / O)` in float32, which equals the exact
 * integer rule whenever i*L < 2^24; larger sizes keep PyTorch's rounding, clamped to the input.
 */
export function windowBounds(inSize: number, outSize: number): { start: Int32Array; end: Int32Array } {
  const start = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  const o = Math.fround(outSize);
  for (let i = 0; i < outSize; i++) {
    const s = Math.floor(Math.fround(Math.fround(i * inSize) / o));
    const e = Math.ceil(Math.fround(Math.fround((i + 1) * inSize) / o));
    start[i] = Math.min(s, inSize - 1);
    end[i] = Math.max(Math.min(e, inSize), start[i]! + 1);
  }
  return { start, end };
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Sum of window extents along one dim, without visiting the windows (plan() runs before any size
 * limit is checked): the windows cover the L inputs once, plus one overlap cell wherever a boundary
 * k*L/O (0 < k < O) is not an integer, which gives L + O - gcd(L, O).
 */
export function windowCells(inSize: number, outSize: number): number {
  return inSize + outSize - gcd(inSize, outSize);
}

export function windowWork(w: AdaptiveWindows): number {
  return w.planes * windowCells(w.inSize[0], w.outSize[0]) * windowCells(w.inSize[1], w.outSize[1]) * windowCells(w.inSize[2], w.outSize[2]);
}

/** What the loops over (plane, od, oh, ow) read: the window bounds of each dim and the input plane. */
export interface WindowTables {
  readonly depth: { start: Int32Array; end: Int32Array };
  readonly rows: { start: Int32Array; end: Int32Array };
  readonly cols: { start: Int32Array; end: Int32Array };
  readonly inPlane: number;
}

export function windowTables(w: AdaptiveWindows): WindowTables {
  const [inD, inH, inW] = w.inSize;
  const [outD, outH, outW] = w.outSize;
  return {
    depth: windowBounds(inD, outD),
    rows: windowBounds(inH, outH),
    cols: windowBounds(inW, outW),
    inPlane: inD * inH * inW,
  };
}

/**
 * The backward's check of grad_output as ATen's pooling saw it: 1d pools ran on the (..., 1, L)
 * view and report the 2d function.
 */
export function checkGradOutputNonEmpty(kind: 'avg' | 'max', dims: PoolDims, gradOutputShape: readonly number[]): void {
  const seen = dims === 1 ? [...gradOutputShape.slice(0, -1), 1, gradOutputShape[gradOutputShape.length - 1]!] : gradOutputShape;
  checkNonEmpty(`adaptive_${kind}_pool${dims === 3 ? 3 : 2}d_backward()`, seen, 1, 'grad_output');
}
