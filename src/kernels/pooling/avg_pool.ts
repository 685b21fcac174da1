/**
 * avg_pool1d/2d/3d and their backward, as torch.nn.functional computes them on CPU (PyTorch 1.13.1):
 * AveragePool2d.cpp and AveragePool3d.cpp for the checks, AvgPoolKernel.cpp for the arithmetic.
 *
 * Each window sums its in-bounds cells in row-major order in the input's precision (float32 adds
 * for float32 input), then divides once by the divisor: divisor_override if given, else with
 * count_include_pad the window clipped at the padded edge `in + p`, else the in-bounds cell count.
 * The backward gives every in-bounds cell of a window `grad_output / divisor`, accumulating.
 */
import { check } from '../errors.js';
import type { OpSpec } from '../registry.js';
import { allocate } from '../storage.js';
import { numel, type FloatArray, type FloatTensor } from '../tensor.js';
import {
  avgPoolWindows,
  check1d,
  checkDimRange,
  checkedGeometry,
  checkHasDims,
  from2dView,
  isPlanePool,
  perDim,
  pool2dShapeCheck,
  pool3dShapeCheck,
  poolWork,
  view2dOf1d,
  type PoolDim,
  type PoolGeometry,
} from './geometry.js';
import {
  checkKeywords,
  floatTensor,
  gradOutputFor,
  readBool,
  readIntList,
  readIntListOr,
  readOptionalInt,
  readStride,
  required,
  roundingOf,
  type Options,
} from './pool_args.js';
import { floatPoolOp } from './pool_op.js';
import { pool2d, windowSums, type Divisors } from './pool_simd.js';

export interface AvgPoolOptions {
  kernel_size: number | number[];
  stride?: number | number[] | null;
  padding?: number | number[];
  ceil_mode?: boolean;
  count_include_pad?: boolean;
  divisor_override?: number | null;
}

export type AvgPoolName = 'avg_pool1d' | 'avg_pool2d' | 'avg_pool3d';

/** The arguments as lists, before any check on their values; an empty stride means "the kernel". */
export interface AvgPoolArgs {
  readonly kernel: readonly number[];
  readonly stride: readonly number[];
  readonly padding: readonly number[];
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;
}

/** A checked avg pool: the windows and how each window's sum is divided. */
export interface AvgPoolPlan {
  readonly geometry: PoolGeometry;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;
}

const keywords1d = ['kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad'];
const keywords = [...keywords1d, 'divisor_override'];

function readAvgPoolArgs(fn: AvgPoolName, options: Options): AvgPoolArgs {
  // avg_pool1d has no divisor_override.
  checkKeywords(fn, options, fn === 'avg_pool1d' ? keywords1d : keywords);
  return {
    kernel: readIntList(fn, 'kernel_size', required(fn, 'kernel_size', options['kernel_size'])),
    stride: readStride(fn, options['stride']),
    padding: readIntListOr(fn, 'padding', options['padding'], 0),
    ceilMode: readBool(fn, 'ceil_mode', options['ceil_mode'], false),
    countIncludePad: readBool(fn, 'count_include_pad', options['count_include_pad'], true),
    divisorOverride: readOptionalInt(fn, 'divisor_override', options['divisor_override']),
  };
}

/**
 * avg_pool2d's checks in ATen's order. It reads the last three sizes before checking the rank, so
 * an input of fewer than 3 dims fails with an IndexError.
 */
function avgPool2dPlan(shape: readonly number[], args: AvgPoolArgs): AvgPoolPlan {
  check(args.kernel.length === 1 || args.kernel.length === 2, 'avg_pool2d: kernel_size must either be a single int, or a tuple of two ints');
  const kernel = perDim(args.kernel, 2);
  check(args.stride.length <= 2, 'avg_pool2d: stride must either be omitted, a single int, or a tuple of two ints');
  const stride = args.stride.length === 0 ? kernel : perDim(args.stride, 2);
  check(args.padding.length === 1 || args.padding.length === 2, 'avg_pool2d: padding must either be a single int, or a tuple of two ints');
  const padding = perDim(args.padding, 2);
  check(args.divisorOverride !== 0, 'divisor must be not zero');
  checkHasDims(shape, 3);

  const geometry = checkedGeometry(shape, kernel, stride, padding, [1, 1], args.ceilMode, (outs) => pool2dShapeCheck(shape, kernel, stride, [1, 1], outs));
  return { geometry, countIncludePad: args.countIncludePad, divisorOverride: args.divisorOverride };
}

/** avg_pool3d's checks in ATen's order, including its rule that the input be at least the kernel. */
function avgPool3dPlan(shape: readonly number[], args: AvgPoolArgs): AvgPoolPlan {
  check(args.kernel.length === 1 || args.kernel.length === 3, 'avg_pool3d: kernel_size must be a single int, or a tuple of three ints');
  const kernel = perDim(args.kernel, 3);
  check(
    args.stride.length === 0 || args.stride.length === 1 || args.stride.length === 3,
    'avg_pool3d: stride must be omitted, a single int, or a tuple of three ints',
  );
  const stride = args.stride.length === 0 ? kernel : perDim(args.stride, 3);
  check(args.padding.length === 1 || args.padding.length === 3, 'avg_pool3d: padding must be a single int, or a tuple of three ints');
  const padding = perDim(args.padding, 3);
  check(shape.length === 4 || shape.length === 5, 'non-empty 4D or 5D (batch mode) tensor expected for input');
  check(args.divisorOverride !== 0, 'divisor must be not zero');

  const geometry = checkedGeometry(shape, kernel, stride, padding, [1, 1, 1], args.ceilMode, (outs) =>
    pool3dShapeCheck(shape, 'avg_pool3d()', kernel, stride, [1, 1, 1], outs, true),
  );
  return { geometry, countIncludePad: args.countIncludePad, divisorOverride: args.divisorOverride };
}

/** avg_pool1d (Pooling.cpp): its own rank and arity checks, then avg_pool2d on the (..., 1, L) view. */
function avgPool1dPlan(shape: readonly number[], args: AvgPoolArgs): AvgPoolPlan {
  const stride = args.stride.length === 0 ? args.kernel : args.stride;
  checkDimRange(shape, 2, 4, 'avg_pool1d');
  check1d('avg_pool1d', 'kernel_size', args.kernel);
  check1d('avg_pool1d', 'stride', stride);
  check1d('avg_pool1d', 'padding', args.padding);
  const plan = avgPool2dPlan(view2dOf1d(shape), {
    kernel: [1, args.kernel[0]],
    stride: [1, stride[0]],
    padding: [0, args.padding[0]],
    ceilMode: args.ceilMode,
    countIncludePad: args.countIncludePad,
    divisorOverride: null,
  });
  return { ...plan, geometry: from2dView(plan.geometry) };
}

/** Checks an avg pool's arguments against an input shape (no data needed). */
export function planAvgPool(fn: AvgPoolName, shape: readonly number[], args: AvgPoolArgs): AvgPoolPlan {
  switch (fn) {
    case 'avg_pool1d':
      return avgPool1dPlan(shape, args);
    case 'avg_pool2d':
      return avgPool2dPlan(shape, args);
    case 'avg_pool3d':
      return avgPool3dPlan(shape, args);
  }
}

/**
 * The forward: float32 2d pools (the pools of CNNs; 1d pools run as 2d) go to the SIMD kernels,
 * the rest to the loop that handles every rank and dtype.
 */
export function avgPoolForward(input: FloatArray, plan: AvgPoolPlan, output: FloatArray): void {
  if (input instanceof Float32Array && output instanceof Float32Array && isPlanePool(plan.geometry)) {
    avgPool2dFloat32(input, plan, output);
  } else {
    avgPoolForwardAnyRank(input, plan, output);
  }
}

/**
 * The general forward loop over (plane, od, oh, ow). Each window is summed in row-major order in a
 * local accumulator, rounded to float32 after every add for float32 input as ATen's float
 * accumulator is, then divided once. Neighbouring windows of the same width are summed two at a
 * time: their adds are independent, which hides the latency of the rounding (the result is unchanged).
 */
function avgPoolForwardAnyRank(input: FloatArray, plan: AvgPoolPlan, output: FloatArray): void {
  const g = plan.geometry;
  const depth = avgPoolWindows(g.depth);
  const rows = avgPoolWindows(g.height);
  const cols = avgPoolWindows(g.width);
  const { countIncludePad, divisorOverride } = plan;
  const single = input instanceof Float32Array;
  const H = g.height.size;
  const W = g.width.size;
  const planeSize = g.depth.size * H * W;
  const outD = g.depth.out;
  const outH = g.height.out;
  const outW = g.width.out;
  let o = 0;
  for (let plane = 0; plane < g.planes; plane++) {
    const base = plane * planeSize;
    for (let od = 0; od < outD; od++) {
      const d0 = depth.start[od];
      const d1 = depth.end[od];
      for (let oh = 0; oh < outH; oh++) {
        const h0 = rows.start[oh];
        const h1 = rows.end[oh];
        // The divisor's depth x height factor, shared by the whole output row.
        const rowDivisor = countIncludePad ? depth.padded[od] * rows.padded[oh] : (d1 - d0) * (h1 - h0);
        for (let ow = 0; ow < outW; ) {
          const a0 = cols.start[ow];
          const width = cols.end[ow] - a0;
          const paired = ow + 1 < outW && cols.end[ow + 1] - cols.start[ow + 1] === width;
          const b0 = paired ? cols.start[ow + 1] : a0;
          let sumA = 0;
          let sumB = 0;
          for (let d = d0; d < d1; d++) {
            for (let h = h0; h < h1; h++) {
              const row = base + (d * H + h) * W;
              const a = row + a0;
              const b = row + b0;
              for (let w = 0; w < width; w++) {
                sumA = single ? Math.fround(sumA + input[a + w]) : sumA + input[a + w];
                sumB = single ? Math.fround(sumB + input[b + w]) : sumB + input[b + w];
              }
            }
          }
          output[o++] = sumA / (divisorOverride ?? rowDivisor * (countIncludePad ? cols.padded[ow] : width));
          if (paired) output[o++] = sumB / (divisorOverride ?? rowDivisor * (countIncludePad ? cols.padded[ow + 1] : width));
          ow += paired ? 2 : 1;
        }
      }
    }
  }
}

/**
 * The divisor of each window of a 2d pool as a row factor times a column factor: the extents
 * clipped at `in + p` with count_include_pad, else the in-bounds extents. divisor_override is a row
 * factor with column factors of 1.
 */
function divisors2d(plan: AvgPoolPlan): Divisors {
  const { height, width } = plan.geometry;
  const { countIncludePad, divisorOverride } = plan;
  if (divisorOverride !== null) return { rows: new Array<number>(height.out).fill(divisorOverride), cols: new Array<number>(width.out).fill(1) };
  const factors = (dim: PoolDim) => {
    const w = avgPoolWindows(dim);
    return Array.from(w.start, (start, o) => (countIncludePad ? w.padded[o]! : w.end[o]! - start));
  };
  return { rows: factors(height), cols: factors(width) };
}

/**
 * avg_pool over float32 (H, W) planes by the SIMD kernels (pool_simd.ts), or by the general loop
 * where they are not available.
 */
function avgPool2dFloat32(input: Float32Array, plan: AvgPoolPlan, output: Float32Array): void {
  const { planes, height, width } = plan.geometry;
  if (!windowSums(pool2d(height, width), input, 0, output, 0, planes, divisors2d(plan))) avgPoolForwardAnyRank(input, plan, output);
}

/**
 * The backward: each window gives `grad_output / divisor`, rounded to the dtype, to each of its
 * cells. Float32 2d pools with stride 1 gather those shares cell by cell where the SIMD kernels
 * are available (avgPoolBackward2dGather); the rest scatter them window by window.
 */
export function avgPoolBackward(gradOutput: FloatArray, plan: AvgPoolPlan, gradInput: FloatArray): void {
  const g = plan.geometry;
  const gathered =
    gradOutput instanceof Float32Array &&
    gradInput instanceof Float32Array &&
    isPlanePool(g) &&
    g.height.stride === 1 &&
    g.width.stride === 1 &&
    avgPoolBackward2dGather(gradOutput, plan, gradInput);
  if (!gathered) avgPoolBackwardScatter(gradOutput, plan, gradInput);
}

/**
 * The backward loop: each window adds `grad_output / divisor`, rounded to the dtype, to its cells.
 * Its loop nest is the forward's and max_pool's on purpose: a shared walker would call a closure per window in the hot loop.
 */
function avgPoolBackwardScatter(gradOutput: FloatArray, plan: AvgPoolPlan, gradInput: FloatArray): void {
  const g = plan.geometry;
  const depth = avgPoolWindows(g.depth);
  const rows = avgPoolWindows(g.height);
  const cols = avgPoolWindows(g.width);
  const { countIncludePad, divisorOverride } = plan;
  const round = roundingOf(gradInput);
  const H = g.height.size;
  const W = g.width.size;
  const planeSize = g.depth.size * H * W;
  const outD = g.depth.out;
  const outH = g.height.out;
  const outW = g.width.out;
  let o = 0;
  for (let plane = 0; plane < g.planes; plane++) {
    const base = plane * planeSize;
    for (let od = 0; od < outD; od++) {
      const d0 = depth.start[od];
      const d1 = depth.end[od];
      for (let oh = 0; oh < outH; oh++) {
        const h0 = rows.start[oh];
        const h1 = rows.end[oh];
        for (let ow = 0; ow < outW; ow++, o++) {
          const w0 = cols.start[ow];
          const w1 = cols.end[ow];
          const divisor =
            divisorOverride ??
            (countIncludePad ? depth.padded[od] * rows.padded[oh] * cols.padded[ow] : (d1 - d0) * (h1 - h0) * (w1 - w0));
          const delta = round(gradOutput[o] / divisor);
          for (let d = d0; d < d1; d++) {
            for (let h = h0; h < h1; h++) {
              const row = base + (d * H + h) * W;
              for (let w = w0; w < w1; w++) gradInput[row + w] += delta;
            }
          }
        }
      }
    }
  }
}

/**
 * The stride-1 backward as a gather. The scatter adds the shares of the windows holding a cell in
 * the order the windows are visited, row-major; with stride 1 those windows form a k x k block of
 * output positions, visited in row-major order too. So each cell is the row-major float32 sum of a
 * window over the plane of shares, started from +0 like the zeroed grad_input: the same adds in the
 * same order, without the read-modify-write of every cell k*k times.
 *
 * Along a dim, cell i is held by outputs [i + p - k + 1, i + p], clipped to the output: the windows
 * of a stride-1 pool of the shares with padding k - 1 - p. The shares are grad_output divided by
 * the window divisors, which the SIMD kernels do as they load the block. False when the kernels
 * cannot take the pool.
 */
function avgPoolBackward2dGather(gradOutput: Float32Array, plan: AvgPoolPlan, gradInput: Float32Array): boolean {
  const { planes, height, width } = plan.geometry;
  const gather = pool2d(gatherDim(height), gatherDim(width));
  return windowSums(gather, gradOutput, 0, gradInput, 0, planes, null, divisors2d(plan));
}

/** The gather windows along one dim of a stride-1 pool: over the output, one per input cell. */
function gatherDim(dim: PoolDim): PoolDim {
  return { size: dim.out, out: dim.size, kernel: dim.kernel, stride: 1, padding: dim.kernel - 1 - dim.padding, dilation: 1 };
}

export function avgPoolWork(plan: AvgPoolPlan): number {
  return poolWork(plan.geometry);
}

function avgPool(fn: AvgPoolName, input: FloatTensor, options: AvgPoolOptions): FloatTensor {
  const args = readAvgPoolArgs(fn, options as unknown as Options);
  const x = floatTensor(fn, 'input', input);
  const plan = planAvgPool(fn, x.shape, args);
  const output = allocate(x.dtype, numel(plan.geometry.outputShape));
  avgPoolForward(x.data, plan, output);
  return { shape: plan.geometry.outputShape, dtype: x.dtype, data: output };
}

function avgPoolGrad(fn: AvgPoolName, gradOutput: FloatTensor, input: FloatTensor, options: AvgPoolOptions): FloatTensor {
  const args = readAvgPoolArgs(fn, options as unknown as Options);
  const x = floatTensor(fn, 'input', input);
  const plan = planAvgPool(fn, x.shape, args);
  const grad = gradOutputFor(fn, gradOutput, plan.geometry.outputShape, x);
  const gradInput = allocate(x.dtype, x.data.length);
  avgPoolBackward(grad.data, plan, gradInput);
  return { shape: [...x.shape], dtype: x.dtype, data: gradInput };
}

export function avgPool1d(input: FloatTensor, opts: AvgPoolOptions): FloatTensor {
  return avgPool('avg_pool1d', input, opts);
}

export function avgPool2d(input: FloatTensor, opts: AvgPoolOptions): FloatTensor {
  return avgPool('avg_pool2d', input, opts);
}

export function avgPool3d(input: FloatTensor, opts: AvgPoolOptions): FloatTensor {
  return avgPool('avg_pool3d', input, opts);
}

export function avgPool1dBackward(gradOutput: FloatTensor, input: FloatTensor, opts: AvgPoolOptions): FloatTensor {
  return avgPoolGrad('avg_pool1d', gradOutput, input, opts);
}

export function avgPool2dBackward(gradOutput: FloatTensor, input: FloatTensor, opts: AvgPoolOptions): FloatTensor {
  return avgPoolGrad('avg_pool2d', gradOutput, input, opts);
}

export function avgPool3dBackward(gradOutput: FloatTensor, input: FloatTensor, opts: AvgPoolOptions): FloatTensor {
  return avgPoolGrad('avg_pool3d', gradOutput, input, opts);
}

function avgPoolOp(fn: AvgPoolName, dims: string): OpSpec {
  return floatPoolOp({
    name: fn,
    summary: `${dims} average pooling (torch.nn.functional.${fn})`,
    plan(shape, params) {
      const plan = planAvgPool(fn, shape, readAvgPoolArgs(fn, params));
      return { outputShape: plan.geometry.outputShape, work: avgPoolWork(plan) };
    },
    forward: (input, params) => avgPool(fn, input, params as unknown as AvgPoolOptions),
    backward: (gradOutput, input, params) => avgPoolGrad(fn, gradOutput, input, params as unknown as AvgPoolOptions),
  });
}

export const avgPoolOps: OpSpec[] = [
  avgPoolOp('avg_pool1d', '1d'),
  avgPoolOp('avg_pool2d', '2d'),
  avgPoolOp('avg_pool3d', '3d'),
];

/** For lp_pool: the arguments LP pooling hands to avg_pool (padding 0, count_include_pad, no divisor). */
export function lpAvgPoolArgs(kernel: readonly number[], stride: readonly number[], ceilMode: boolean): AvgPoolArgs {
  return { kernel, stride, padding: [0], ceilMode, countIncludePad: true, divisorOverride: null };
}
