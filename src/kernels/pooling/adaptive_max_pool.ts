/**
 * adaptive_max_pool1d/2d/3d (torch.nn.functional) and their backward, as PyTorch 1.13 computes
 * them on CPU (aten/src/ATen/native/AdaptiveMaxPooling2d.cpp, AdaptiveMaxPooling3d.cpp and
 * cpu/AdaptiveMaxPoolKernel.cpp).
 *
 * Each window is scanned in row-major order from -inf with `val > max || isnan(val)`: the first
 * maximum wins a tie, and a NaN wins over everything, the last NaN giving the index. Indices are
 * flat positions in the input's own (n, c) plane: `(d*H + h)*W + w`.
 */
import { checkGradOutput, floatArg, readBool, shapeArg } from '../arguments.js';
import { check, formatSizes } from '../errors.js';
import type { OpSpec, Params, Shapes, Tensors } from '../registry.js';
import { allocate } from '../storage.js';
import type { FloatArray, FloatTensor, IntTensor, Tensor } from '../tensor.js';
import { numel } from '../tensor.js';
import {
  type AdaptiveOptions,
  type AdaptiveWindows,
  type PoolDims,
  adaptiveWindows,
  check1dOutputSize,
  check1dRank,
  checkGradOutputNonEmpty,
  checkNonEmpty,
  checkOutputShape,
  readOutputSize,
  windowTables,
  windowWork,
} from './adaptive_geometry.js';

export interface AdaptiveMaxOptions extends AdaptiveOptions {
  readonly return_indices?: boolean;
}

/** Every argument check of the call, in PyTorch's order, and the windows it pools. */
export function planAdaptiveMaxPool(dims: PoolDims, inputShape: readonly number[], opts: AdaptiveOptions | Params): AdaptiveWindows {
  const fn = `adaptive_max_pool${dims}d`;
  const size = readOutputSize(fn, dims, inputShape, opts.output_size);
  readBool((opts as Params).return_indices, fn, 'return_indices', false);
  const ndim = inputShape.length;
  if (dims === 1) {
    check1dRank(fn, inputShape);
    check1dOutputSize(fn, size);
    checkNonEmpty(`${fn}()`, inputShape, 1);
  } else {
    const rank = dims === 2 ? '3D or 4D' : '4D or 5D';
    check(ndim === dims + 1 || ndim === dims + 2, () => `${fn}(): Expected ${rank} tensor, but got: ${formatSizes(inputShape)}`);
    checkNonEmpty(`${fn}()`, inputShape, 1);
    check(size.length === dims, () => `${fn}(): internal error: output_size.size() must be ${dims}`);
  }
  const windows = adaptiveWindows(inputShape, dims, size);
  // 1d allocates its result as the 2d (..., 1, L_out) view, and reports that shape.
  checkOutputShape(dims === 1 ? [...inputShape.slice(0, -1), 1, size[0]!] : windows.outputShape);
  return windows;
}

// The loop nest is adaptive_avg_pool's on purpose: a shared walker would call a closure per window in the hot loop.
function poolForward(x: FloatArray, out: FloatArray, indices: Int32Array, w: AdaptiveWindows): void {
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
      for (let oh = 0; oh < outH; oh++) {
        const h0 = h.start[oh]!;
        const h1 = h.end[oh]!;
        for (let ow = 0; ow < outW; ow++) {
          const w0 = wb.start[ow]!;
          const w1 = wb.end[ow]!;
          let max = -Infinity;
          let argmax = (d0 * inH + h0) * inW + w0;
          for (let id = d0; id < d1; id++) {
            for (let ih = h0; ih < h1; ih++) {
              const row = (id * inH + ih) * inW;
              for (let iw = w0; iw < w1; iw++) {
                const v = x[base + row + iw]!;
                // v !== v is isnan(v).
                if (v > max || v !== v) {
                  max = v;
                  argmax = row + iw;
                }
              }
            }
          }
          out[o] = max;
          indices[o++] = argmax;
        }
      }
    }
  }
}

function adaptiveMaxPool(dims: PoolDims, input: FloatTensor, opts: AdaptiveMaxOptions): { output: FloatTensor; indices: IntTensor } {
  const windows = planAdaptiveMaxPool(dims, input.shape, opts);
  const n = numel(windows.outputShape);
  const out = allocate(input.dtype, n);
  const indices = allocate('int64', n);
  poolForward(input.data, out, indices, windows);
  return {
    output: { shape: [...windows.outputShape], dtype: input.dtype, data: out },
    indices: { shape: [...windows.outputShape], dtype: 'int64', data: indices },
  };
}

/** `grad_input[plane][indices] += grad_output`, visiting outputs in row-major order. */
function adaptiveMaxPoolBackward(dims: PoolDims, gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: AdaptiveOptions): FloatTensor {
  const fn = `adaptive_max_pool${dims}d_backward`;
  const windows = planAdaptiveMaxPool(dims, input.shape, opts);
  checkGradOutput(gradOutput, input, windows.outputShape);
  check(
    indices.shape.length === gradOutput.shape.length && indices.shape.every((d, i) => d === gradOutput.shape[i]),
    () => `${fn}(): expected indices of shape ${formatSizes(gradOutput.shape)}, but got ${formatSizes(indices.shape)}`,
  );
  checkGradOutputNonEmpty('max', dims, gradOutput.shape);
  const [inD, inH, inW] = windows.inSize;
  const inPlane = inD * inH * inW;
  const outPlane = windows.outSize[0] * windows.outSize[1] * windows.outSize[2];
  const g = gradOutput.data;
  const idx = indices.data;
  const gradInput = allocate(input.dtype, input.data.length);
  for (let p = 0, o = 0; p < windows.planes; p++) {
    const base = p * inPlane;
    for (let k = 0; k < outPlane; k++, o++) {
      const i = idx[o]!;
      check(i >= 0 && i < inPlane, () => `${fn}(): index ${i} is out of bounds for a plane of ${inPlane} elements`);
      gradInput[base + i] += g[o]!;
    }
  }
  return { shape: [...input.shape], dtype: input.dtype, data: gradInput };
}

/** Always returns the indices too (they are computed anyway); `return_indices` only matters to the OpSpec. */
export function adaptiveMaxPool1d(input: FloatTensor, opts: AdaptiveMaxOptions): { output: FloatTensor; indices: IntTensor } {
  return adaptiveMaxPool(1, input, opts);
}
export function adaptiveMaxPool2d(input: FloatTensor, opts: AdaptiveMaxOptions): { output: FloatTensor; indices: IntTensor } {
  return adaptiveMaxPool(2, input, opts);
}
export function adaptiveMaxPool3d(input: FloatTensor, opts: AdaptiveMaxOptions): { output: FloatTensor; indices: IntTensor } {
  return adaptiveMaxPool(3, input, opts);
}
export function adaptiveMaxPool1dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: AdaptiveMaxOptions): FloatTensor {
  return adaptiveMaxPoolBackward(1, gradOutput, input, indices, opts);
}
export function adaptiveMaxPool2dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: AdaptiveMaxOptions): FloatTensor {
  return adaptiveMaxPoolBackward(2, gradOutput, input, indices, opts);
}
export function adaptiveMaxPool3dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: AdaptiveMaxOptions): FloatTensor {
  return adaptiveMaxPoolBackward(3, gradOutput, input, indices, opts);
}

function adaptiveMaxPoolOp(dims: PoolDims): OpSpec {
  const name = `adaptive_max_pool${dims}d`;
  const options = (params: Params) => params as unknown as AdaptiveMaxOptions;
  return {
    name,
    summary: `torch.nn.functional.${name}(input, output_size, return_indices=False)`,
    tensorArgs: [{ name: 'input', kind: 'float' }],
    gradients: ['grad_input'],
    plan(shapes: Shapes, params: Params) {
      const windows = planAdaptiveMaxPool(dims, shapeArg(name, shapes, 'input'), params);
      const outputs: Record<string, readonly number[]> = { output: windows.outputShape };
      if (params.return_indices === true) outputs.indices = windows.outputShape;
      return { outputs, work: windowWork(windows) };
    },
    forward(tensors: Tensors, params: Params): Record<string, Tensor> {
      const { output, indices } = adaptiveMaxPool(dims, floatArg(name, tensors, 'input'), options(params));
      return params.return_indices === true ? { output, indices } : { output };
    },
    backward(tensors: Tensors, params: Params) {
      const input = floatArg(name, tensors, 'input');
      const gradOutput = floatArg(name, tensors, 'grad_output');
      const { indices } = adaptiveMaxPool(dims, input, options(params));
      return { grad_input: adaptiveMaxPoolBackward(dims, gradOutput, input, indices, options(params)) };
    },
  };
}

export const adaptiveMaxPoolOps: OpSpec[] = [adaptiveMaxPoolOp(1), adaptiveMaxPoolOp(2), adaptiveMaxPoolOp(3)];
