/**
 * adaptive_avg_pool1d/2d/3d (torch.nn.functional) and their backward, as PyTorch 1.13 computes
 * them on CPU (aten/src/ATen/native/AdaptiveAveragePooling*.cpp, cpu/AdaptiveAvgPoolKernel.cpp):
 * each output is the sum of its window, accumulated in the input's precision in row-major window
 * order, divided by the window's extent of each dim in turn (`sum / kD / kH / kW`).
 *
 * When every output size is 1, PyTorch does not pool: it returns `input.mean(pooled dims,
 * keepdim=True)`, which sums in a different order and also skips the pooling's shape checks. That
 * path is reproduced by calling `mean`.
 */
import { checkGradOutput, floatArg, shapeArg } from '../arguments.js';
import { check, formatSizes } from '../errors.js';
import type { OpSpec, Params, Shapes, Tensors } from '../registry.js';
import { mean, meanBackward, meanGeometry } from '../reduction/mean.js';
import { allocate } from '../storage.js';
import type { FloatArray, FloatTensor } from '../tensor.js';
import { numel } from '../tensor.js';
import { rowMeans } from './pool_simd.js';
import {
  type AdaptiveOptions,
  type AdaptiveWindows,
  type PoolDims,
  adaptiveWindows,
  check1dOutputSize,
  check1dRank,
  checkGradOutputNonEmpty,
  checkNonEmpty,
  readOutputSize,
  windowTables,
  windowWork,
} from './adaptive_geometry.js';

/** How a call is computed: pooled over windows, or as a mean over the pooled dims. */
export type AdaptiveAvgPlan =
  | { readonly kind: 'pool'; readonly windows: AdaptiveWindows }
  | { readonly kind: 'mean'; readonly dims: readonly number[]; readonly outputShape: readonly number[] };

function meanPlan(inputShape: readonly number[], dims: number[]): AdaptiveAvgPlan {
  // Raises PyTorch's IndexError when the input has fewer dims than are pooled.
  const { outputShape } = meanGeometry(inputShape, { dim: dims, keepdim: true });
  return { kind: 'mean', dims, outputShape };
}

function checkNonNegative2d(size: readonly number[]): void {
  check(
    size[0]! >= 0 && size[1]! >= 0,
    () => `adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {${size[0]}, ${size[1]}}`,
  );
}

/** The 2d ATen path (also taken by 1d on its (..., 1, L) view), after the all-ones shortcut. */
function check2dInput(shape: readonly number[]): void {
  const ndim = shape.length;
  check(ndim === 3 || ndim === 4, () => `adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got ${formatSizes(shape)}`);
  for (const i of [ndim - 2, ndim - 1]) {
    check(
      shape[i]! > 0,
      () => `adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes ${formatSizes(shape)} with dimension ${i} being empty`,
    );
  }
}

/** Every argument check of the call, in PyTorch's order, and how it will be computed. */
export function planAdaptiveAvgPool(dims: PoolDims, inputShape: readonly number[], opts: AdaptiveOptions | Params): AdaptiveAvgPlan {
  const fn = `adaptive_avg_pool${dims}d`;
  const size = readOutputSize(fn, dims, inputShape, opts.output_size);
  if (dims === 1) {
    check1dRank(fn, inputShape);
    check1dOutputSize(fn, size);
    // ATen pools the (..., 1, L) view with output size (1, L_out).
    checkNonNegative2d([1, size[0]!]);
    if (size[0] === 1) return meanPlan(inputShape, [-1]);
    check2dInput([...inputShape.slice(0, -1), 1, inputShape[inputShape.length - 1]!]);
  } else if (dims === 2) {
    check(size.length === 2, 'adaptive_avg_pool2d: output_size must be 2');
    checkNonNegative2d(size);
    if (size[0] === 1 && size[1] === 1) return meanPlan(inputShape, [-1, -2]);
    check2dInput(inputShape);
  } else {
    check(size.length === 3, 'adaptive_avg_pool3d: output_size must be 3');
    check(
      size[0]! >= 0 && size[1]! >= 0 && size[2]! >= 0,
      // PyTorch 1.13's message names 2d and misses a space before the last size.
      () => `adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {${size[0]}, ${size[1]},${size[2]}}`,
    );
    if (size[0] === 1 && size[1] === 1 && size[2] === 1) return meanPlan(inputShape, [-1, -2, -3]);
    checkNonEmpty('adaptive_avg_pool3d()', inputShape, 1);
    check(
      inputShape.length === 4 || inputShape.length === 5,
      () => `adaptive_avg_pool3d(): Expected 4D or 5D tensor, but got ${formatSizes(inputShape)}`,
    );
  }
  return { kind: 'pool', windows: adaptiveWindows(inputShape, dims, size) };
}

function poolForward(x: FloatArray, out: FloatArray, w: AdaptiveWindows, f32: boolean): void {
  // An empty result reads no window; its other sizes may be huge (output_size (0, 2**31)).
  if (out.length === 0) return;
  const [, inH, inW] = w.inSize;
  const [outD, outH, outW] = w.outSize;
  const { depth: d, rows: h, cols: wb, inPlane } = windowTables(w);
  let o = 0;
  for (let p = 0; p < w.planes; p++) {
    const base = p * inPlane;
    for (let od = 0; od < outD; od++) {
      const d0 = d.start[od]!;
      const d1 = d.end[od]!;
      const kd = d1 - d0;
      for (let oh = 0; oh < outH; oh++) {
        const h0 = h.start[oh]!;
        const h1 = h.end[oh]!;
        const kh = h1 - h0;
        for (let ow = 0; ow < outW; ow++) {
          const w0 = wb.start[ow]!;
          const w1 = wb.end[ow]!;
          const kw = w1 - w0;
          let sum = 0;
          for (let id = d0; id < d1; id++) {
            for (let ih = h0; ih < h1; ih++) {
              const row = base + (id * inH + ih) * inW;
              if (f32) for (let iw = w0; iw < w1; iw++) sum = Math.fround(sum + x[row + iw]!);
              else for (let iw = w0; iw < w1; iw++) sum += x[row + iw]!;
            }
          }
          out[o++] = f32 ? Math.fround(Math.fround(Math.fround(sum / kd) / kh) / kw) : sum / kd / kh / kw;
        }
      }
    }
  }
}

function poolBackward(g: FloatArray, gradInput: FloatArray, w: AdaptiveWindows, f32: boolean): void {
  // An empty result reads no window; its other sizes may be huge (output_size (0, 2**31)).
  if (g.length === 0) return;
  const [, inH, inW] = w.inSize;
  const [outD, outH, outW] = w.outSize;
  const { depth: d, rows: h, cols: wb, inPlane } = windowTables(w);
  let o = 0;
  for (let p = 0; p < w.planes; p++) {
    const base = p * inPlane;
    for (let od = 0; od < outD; od++) {
      const d0 = d.start[od]!;
      const d1 = d.end[od]!;
      for (let oh = 0; oh < outH; oh++) {
        const h0 = h.start[oh]!;
        const h1 = h.end[oh]!;
        for (let ow = 0; ow < outW; ow++) {
          const w0 = wb.start[ow]!;
          const w1 = wb.end[ow]!;
          const go = g[o++]!;
          const delta = f32 ? Math.fround(Math.fround(Math.fround(go / (d1 - d0)) / (h1 - h0)) / (w1 - w0)) : go / (d1 - d0) / (h1 - h0) / (w1 - w0);
          for (let id = d0; id < d1; id++) {
            for (let ih = h0; ih < h1; ih++) {
              const row = base + (id * inH + ih) * inW;
              // A Float32Array store rounds each sum to float32, as PyTorch's `+=` does.
              for (let iw = w0; iw < w1; iw++) gradInput[row + iw] += delta;
            }
          }
        }
      }
    }
  }
}

/**
 * The all-ones output size of a float32 input, a mean of each plane (a contiguous row), by the
 * SIMD kernel that sums rows in mean()'s order (the global average pool of a CNN: 49 elements a
 * row); null where it does not apply.
 */
function globalMeanFloat32(input: FloatTensor, plan: Extract<AdaptiveAvgPlan, { kind: 'mean' }>): FloatTensor | null {
  if (!(input.data instanceof Float32Array)) return null;
  const rowLength = input.shape.slice(-plan.dims.length).reduce((a, b) => a * b, 1);
  const out = allocate('float32', numel(plan.outputShape)) as Float32Array;
  return rowMeans(input.data, rowLength, out) ? { shape: plan.outputShape, dtype: 'float32', data: out } : null;
}

function adaptiveAvgPool(dims: PoolDims, input: FloatTensor, opts: AdaptiveOptions): FloatTensor {
  const plan = planAdaptiveAvgPool(dims, input.shape, opts);
  if (plan.kind === 'mean') return globalMeanFloat32(input, plan) ?? mean(input, { dim: plan.dims, keepdim: true });
  const { windows } = plan;
  const out = allocate(input.dtype, numel(windows.outputShape));
  poolForward(input.data, out, windows, input.dtype === 'float32');
  return { shape: [...windows.outputShape], dtype: input.dtype, data: out };
}

function adaptiveAvgPoolBackward(dims: PoolDims, gradOutput: FloatTensor, input: FloatTensor, opts: AdaptiveOptions): FloatTensor {
  const plan = planAdaptiveAvgPool(dims, input.shape, opts);
  if (plan.kind === 'mean') return meanBackward(gradOutput, input, { dim: plan.dims, keepdim: true });
  const { windows } = plan;
  checkGradOutput(gradOutput, input, windows.outputShape);
  checkGradOutputNonEmpty('avg', dims, gradOutput.shape);
  const gradInput = allocate(input.dtype, input.data.length);
  poolBackward(gradOutput.data, gradInput, windows, input.dtype === 'float32');
  return { shape: [...input.shape], dtype: input.dtype, data: gradInput };
}

export function adaptiveAvgPool1d(input: FloatTensor, opts: AdaptiveOptions): FloatTensor {
  return adaptiveAvgPool(1, input, opts);
}
export function adaptiveAvgPool2d(input: FloatTensor, opts: AdaptiveOptions): FloatTensor {
  return adaptiveAvgPool(2, input, opts);
}
export function adaptiveAvgPool3d(input: FloatTensor, opts: AdaptiveOptions): FloatTensor {
  return adaptiveAvgPool(3, input, opts);
}
export function adaptiveAvgPool1dBackward(gradOutput: FloatTensor, input: FloatTensor, opts: AdaptiveOptions): FloatTensor {
  return adaptiveAvgPoolBackward(1, gradOutput, input, opts);
}
export function adaptiveAvgPool2dBackward(gradOutput: FloatTensor, input: FloatTensor, opts: AdaptiveOptions): FloatTensor {
  return adaptiveAvgPoolBackward(2, gradOutput, input, opts);
}
export function adaptiveAvgPool3dBackward(gradOutput: FloatTensor, input: FloatTensor, opts: AdaptiveOptions): FloatTensor {
  return adaptiveAvgPoolBackward(3, gradOutput, input, opts);
}

function adaptiveAvgPoolOp(dims: PoolDims): OpSpec {
  const name = `adaptive_avg_pool${dims}d`;
  return {
    name,
    summary: `torch.nn.functional.${name}(input, output_size)`,
    tensorArgs: [{ name: 'input', kind: 'float' }],
    gradients: ['grad_input'],
    plan(shapes: Shapes, params: Params) {
      const shape = shapeArg(name, shapes, 'input');
      const plan = planAdaptiveAvgPool(dims, shape, params);
      if (plan.kind === 'mean') return { outputs: { output: plan.outputShape }, work: numel(shape) };
      return { outputs: { output: plan.windows.outputShape }, work: windowWork(plan.windows) };
    },
    forward(tensors: Tensors, params: Params) {
      return { output: adaptiveAvgPool(dims, floatArg(name, tensors, 'input'), params as unknown as AdaptiveOptions) };
    },
    backward(tensors: Tensors, params: Params) {
      const gradOutput = floatArg(name, tensors, 'grad_output');
      const input = floatArg(name, tensors, 'input');
      return { grad_input: adaptiveAvgPoolBackward(dims, gradOutput, input, params as unknown as AdaptiveOptions) };
    },
  };
}

export const adaptiveAvgPoolOps: OpSpec[] = [adaptiveAvgPoolOp(1), adaptiveAvgPoolOp(2), adaptiveAvgPoolOp(3)];
