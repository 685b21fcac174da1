/**
 * max_pool1d/2d/3d and their backward, as torch.nn.functional computes them on CPU (PyTorch 1.13.1):
 * DilatedMaxPool2d.cpp and DilatedMaxPool3d.cpp for the windows, MaxPooling.cpp for the plain 1d path.
 *
 * Padding acts as -inf (padded taps are skipped), the first maximum in scan order wins ties, NaN
 * propagates with the index of the last NaN, and indices are flat positions in the input's own
 * (n, c) plane. The backward adds grad_output at those indices, so overlapping windows accumulate.
 */
import { check, formatSizes } from '../errors.js';
import type { OpSpec, Params } from '../registry.js';
import { allocate } from '../storage.js';
import { numel, type FloatArray, type FloatTensor, type IntTensor, type Tensor } from '../tensor.js';
import {
  cDiv,
  check1d,
  checkDimRange,
  checkedGeometry,
  from2dView,
  interiorRange,
  isPlanePool,
  maxPoolWindows,
  perDim,
  pool2dShapeCheck,
  pool3dShapeCheck,
  poolGeometry,
  poolingOutputSize,
  poolWork,
  view2dOf1d,
  type PoolGeometry,
} from './geometry.js';
import {
  checkKeywords,
  floatTensor,
  gradOutputFor,
  inputShape,
  readBool,
  readIntList,
  readIntListOr,
  readStride,
  required,
  sameShape,
  type Options,
} from './pool_args.js';
import { maxPoolBackwardFloat32 } from './max_pool_backward_wasm.js';
import { pool2d, windowMax } from './pool_simd.js';

export interface MaxPoolOptions {
  kernel_size: number | number[];
  stride?: number | number[] | null;
  padding?: number | number[];
  dilation?: number | number[];
  ceil_mode?: boolean;
  return_indices?: boolean;
}

type MaxPoolName = 'max_pool1d' | 'max_pool2d' | 'max_pool3d';

/** The arguments as lists, before any check on their values; an empty stride means "the kernel". */
interface MaxPoolArgs {
  readonly kernel: readonly number[];
  readonly stride: readonly number[];
  readonly padding: readonly number[];
  readonly dilation: readonly number[];
  readonly ceilMode: boolean;
  readonly returnIndices: boolean;
}

const keywords = ['kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices'];

function readMaxPoolArgs(fn: MaxPoolName, options: Options): MaxPoolArgs {
  checkKeywords(fn, options, keywords);
  return {
    kernel: readIntList(fn, 'kernel_size', required(fn, 'kernel_size', options['kernel_size'])),
    stride: readStride(fn, options['stride']),
    padding: readIntListOr(fn, 'padding', options['padding'], 0),
    dilation: readIntListOr(fn, 'dilation', options['dilation'], 1),
    ceilMode: readBool(fn, 'ceil_mode', options['ceil_mode'], false),
    // F.max_poolNd tests return_indices for truth, so None means False there.
    returnIndices: options['return_indices'] === null ? false : readBool(fn, 'return_indices', options['return_indices'], false),
  };
}

/** max_pool2d_with_indices' checks, in ATen's order, on a 3-d (C, H, W) or 4-d (N, C, H, W) input. */
function maxPool2dGeometry(shape: readonly number[], args: MaxPoolArgs): PoolGeometry {
  check(args.kernel.length === 1 || args.kernel.length === 2, 'max_pool2d: kernel_size must either be a single int, or a tuple of two ints');
  const kernel = perDim(args.kernel, 2);
  check(args.stride.length <= 2, 'max_pool2d: stride must either be omitted, a single int, or a tuple of two ints');
  const stride = args.stride.length === 0 ? kernel : perDim(args.stride, 2);
  check(args.padding.length === 1 || args.padding.length === 2, 'max_pool2d: padding must be either be a single int, or a tuple of two ints');
  const padding = perDim(args.padding, 2);
  check(args.dilation.length === 1 || args.dilation.length === 2, 'max_pool2d: dilation must be either a single int, or a tuple of two ints');
  const dilation = perDim(args.dilation, 2);
  check(shape.length === 3 || shape.length === 4, 'non-empty 3D or 4D (batch mode) tensor expected for input');

  return checkedGeometry(shape, kernel, stride, padding, dilation, args.ceilMode, (outs) => pool2dShapeCheck(shape, kernel, stride, dilation, outs));
}

/** max_pool3d_with_indices' checks, in ATen's order, on a 4-d (C, D, H, W) or 5-d input. */
function maxPool3dGeometry(shape: readonly number[], args: MaxPoolArgs): PoolGeometry {
  check(args.kernel.length === 1 || args.kernel.length === 3, 'max_pool3d: kernel_size must either be a single int, or a tuple of three ints');
  const kernel = perDim(args.kernel, 3);
  check(
    args.stride.length === 0 || args.stride.length === 1 || args.stride.length === 3,
    'max_pool3d: stride must either be omitted, a single int, or a tuple of three ints',
  );
  const stride = args.stride.length === 0 ? kernel : perDim(args.stride, 3);
  check(args.padding.length === 1 || args.padding.length === 3, 'max_pool3d: padding must be either be a single int, or a tuple of three ints');
  const padding = perDim(args.padding, 3);
  check(args.dilation.length === 1 || args.dilation.length === 3, 'max_pool3d: dilation must be either a single int, or a tuple of three ints');
  const dilation = perDim(args.dilation, 3);
  check(shape.length === 4 || shape.length === 5, 'non-empty 4D or 5D (batch mode) tensor expected for input');

  return checkedGeometry(shape, kernel, stride, padding, dilation, args.ceilMode, (outs) =>
    pool3dShapeCheck(shape, 'max_pool3d_with_indices_out_cpu_template()', kernel, stride, dilation, outs, false),
  );
}

/**
 * The path max_pool1d takes when it needs indices (return_indices, or an input that requires
 * grad): Pooling.cpp's checks, then max_pool2d on the (..., 1, L) view, whose messages therefore
 * report the 2d view.
 */
function maxPool1dIndicesGeometry(shape: readonly number[], args: MaxPoolArgs): PoolGeometry {
  const stride = args.stride.length === 0 ? args.kernel : args.stride;
  checkDimRange(shape, 2, 4, 'max_pool1d');
  check1d('max_pool1d', 'kernel_size', args.kernel);
  check1d('max_pool1d', 'stride', stride);
  check1d('max_pool1d', 'padding', args.padding);
  check1d('max_pool1d', 'dilation', args.dilation);
  const geometry = maxPool2dGeometry(view2dOf1d(shape), {
    kernel: [1, args.kernel[0]],
    stride: [1, stride[0]],
    padding: [0, args.padding[0]],
    dilation: [1, args.dilation[0]],
    ceilMode: args.ceilMode,
    returnIndices: true,
  });
  return from2dView(geometry);
}

/**
 * The plain CPU max_pool1d (MaxPooling.cpp), taken without return_indices by an input that does not
 * require grad. It words its checks differently and accepts an output of length 0, which the
 * indices path rejects as "Output size is too small" (so a backward always raises there).
 */
function maxPool1dPlainGeometry(shape: readonly number[], args: MaxPoolArgs): PoolGeometry {
  const ndim = shape.length;
  check(
    (ndim === 2 && shape[0] !== 0 && shape[1] !== 0) || (ndim === 3 && shape[1] !== 0 && shape[2] !== 0),
    () => `max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but got:${formatSizes(shape)}`,
  );
  check(
    args.kernel.length === 1,
    () => `max_pool1d() kernel_size must be an int, list of ints or tuple of ints of size 1 but got size ${args.kernel.length}`,
  );
  check(
    args.stride.length <= 1,
    () => `max_pool1d() stride must be None, an int, list of ints, or tuple of ints of size 1 but got size ${args.stride.length}`,
  );
  check(
    args.padding.length === 1,
    () => `max_pool1d() padding must be an int, list of ints, or tuple of ints of size 1 but got size ${args.padding.length}`,
  );
  check(
    args.dilation.length === 1,
    () => `max_pool1d() dilation must be an int, list of ints or tuple of ints of size 1 but got size ${args.dilation.length}`,
  );
  const kernel = args.kernel[0];
  const stride = args.stride.length === 0 ? kernel : args.stride[0];
  const padding = args.padding[0];
  const dilation = args.dilation[0];
  check(kernel > 0, () => `max_pool1d() kernel_size must be greater than zero, but got ${kernel}`);
  check(stride > 0, () => `max_pool1d() stride must be greater than zero, but got ${stride}`);
  check(padding >= 0, () => `max_pool1d() padding must be non-negative, but got ${padding}`);
  check(
    padding <= cDiv(kernel, 2),
    () => `max_pool1d() padding should be at most half of kernel size, but got padding=${padding} and kernel_size=${kernel}`,
  );
  check(dilation > 0, () => `max_pool1d() dilation must be greater than zero, but got ${dilation}`);
  const size = shape[ndim - 1];
  const out = poolingOutputSize(size, kernel, padding, stride, dilation, args.ceilMode);
  check(out >= 0, () => `max_pool1d() Invalid computed output size: ${out}`);
  return poolGeometry(shape, [{ size, out, kernel, stride, padding, dilation }]);
}

/** The geometry of a forward; `forGradient` selects the path PyTorch takes when autograd is involved. */
function maxPoolGeometry(fn: MaxPoolName, shape: readonly number[], args: MaxPoolArgs, forGradient: boolean): PoolGeometry {
  switch (fn) {
    case 'max_pool1d':
      return args.returnIndices || forGradient ? maxPool1dIndicesGeometry(shape, args) : maxPool1dPlainGeometry(shape, args);
    case 'max_pool2d':
      return maxPool2dGeometry(shape, args);
    case 'max_pool3d':
      return maxPool3dGeometry(shape, args);
  }
}

/**
 * The forward: float32 2d pools without dilation (the pools of CNNs; 1d pools run as 2d) go to the
 * SIMD kernels, the rest to the loop that handles every rank, dilation and dtype.
 */
function maxPoolForward(input: FloatArray, g: PoolGeometry, output: FloatArray, indices: Int32Array): void {
  if (input instanceof Float32Array && output instanceof Float32Array && isUndilated2d(g)) {
    maxPool2dFloat32(input, g, output, indices);
  } else {
    maxPoolForwardAnyRank(input, g, output, indices);
  }
}

/** A pool over (H, W) planes (1d pools on their 2d view included) with no dilation. */
function isUndilated2d(g: PoolGeometry): boolean {
  return isPlanePool(g) && g.height.dilation === 1 && g.width.dilation === 1;
}

/**
 * The general forward loop over (plane, od, oh, ow) with the window bounds read from per-dim tables.
 * A dilated window can have every tap in the padding or past the input: it then gives -inf and,
 * as in ATen, the index computed from its first taps past the left padding, which lie outside the
 * window's input (see maxPoolBackwardLoop for where its gradient goes).
 */
function maxPoolForwardAnyRank(input: FloatArray, g: PoolGeometry, output: FloatArray, indices: Int32Array): void {
  const depth = maxPoolWindows(g.depth);
  const rows = maxPoolWindows(g.height);
  const cols = maxPoolWindows(g.width);
  const dilationD = g.depth.dilation;
  const dilationH = g.height.dilation;
  const dilationW = g.width.dilation;
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
          let maxIndex = (d0 * H + h0) * W + w0;
          let maxValue = -Infinity;
          for (let d = d0; d < d1; d += dilationD) {
            for (let h = h0; h < h1; h += dilationH) {
              const row = (d * H + h) * W;
              for (let w = w0; w < w1; w += dilationW) {
                const value = input[base + row + w];
                // Strict > keeps the first of equal maxima; any NaN wins, and a later NaN replaces it.
                if (value > maxValue || value !== value) {
                  maxValue = value;
                  maxIndex = row + w;
                }
              }
            }
          }
          output[o] = maxValue;
          indices[o] = maxIndex;
        }
      }
    }
  }
}

/**
 * max_pool over float32 (H, W) planes without dilation by the SIMD kernels (pool_simd.ts), or by
 * the general loop where they are not available.
 */
function maxPool2dFloat32(input: Float32Array, g: PoolGeometry, output: Float32Array, indices: Int32Array): void {
  if (windowMax(pool2d(g.height, g.width), input, 0, g.planes, output, indices)) firstCellOfNegInfWindows(g, output, indices);
  else maxPoolForwardAnyRank(input, g, output, indices);
}

/**
 * A window the padding clips whose maximum is -inf gets, in ATen, the index of its first cell in
 * the input; the SIMD kernels may have picked a -inf of the padding before it.
 */
function firstCellOfNegInfWindows(g: PoolGeometry, output: Float32Array, indices: Int32Array): void {
  const rows = maxPoolWindows(g.height);
  const cols = maxPoolWindows(g.width);
  const insideRows = interiorRange(g.height);
  const insideCols = interiorRange(g.width);
  const W = g.width.size;
  const outW = g.width.out;
  const fix = (o: number, oh: number, from: number, to: number) => {
    for (let ow = from; ow < to; ow++) {
      if (output[o + ow] === -Infinity) indices[o + ow] = rows.start[oh] * W + cols.start[ow];
    }
  };
  for (let plane = 0, o = 0; plane < g.planes; plane++) {
    for (let oh = 0; oh < g.height.out; oh++, o += outW) {
      if (oh < insideRows.first || oh >= insideRows.end) {
        fix(o, oh, 0, outW);
      } else {
        fix(o, oh, 0, insideCols.first);
        fix(o, oh, insideCols.end, outW);
      }
    }
  }
}

/**
 * grad_input[plane][index] += grad_output, outputs visited in row-major order. An index outside the
 * plane comes only from a window that read no input (see maxPoolForward); that output does not
 * depend on the input, so its gradient is dropped where ATen would write out of bounds.
 */
function maxPoolBackwardLoop(gradOutput: FloatArray, indices: Int32Array, g: PoolGeometry, gradInput: FloatArray): void {
  const planeSize = g.depth.size * g.height.size * g.width.size;
  const outPlaneSize = g.depth.out * g.height.out * g.width.out;
  const pageStep = 4096 / gradInput.BYTES_PER_ELEMENT;
  let nextPage = 0;
  let o = 0;
  for (let plane = 0; plane < g.planes; plane++) {
    const base = plane * planeSize;
    // Take the page faults of this plane's fresh storage in address order, just before the
    // scatter writes it, so the zeroed lines are still in cache when the scatter reads them.
    for (const end = base + planeSize; nextPage < end; nextPage += pageStep) gradInput[nextPage] = 0;
    for (let i = 0; i < outPlaneSize; i++, o++) {
      const index = indices[o]!;
      // One unsigned compare: a negative index wraps above planeSize.
      if (index >>> 0 < planeSize) gradInput[base + index] += gradOutput[o]!;
    }
  }
}

/**
 * Runs a forward. The indices are always returned (a backward needs them); `return_indices` only
 * decides which checks apply to max_pool1d and what the registry op reports.
 */
function maxPool(fn: MaxPoolName, input: FloatTensor, options: MaxPoolOptions): { output: FloatTensor; indices: IntTensor } {
  const args = readMaxPoolArgs(fn, options as unknown as Options);
  const x = floatTensor(fn, 'input', input);
  const g = maxPoolGeometry(fn, x.shape, args, false);
  const size = numel(g.outputShape);
  const output = allocate(x.dtype, size);
  const indices = allocate('int64', size);
  maxPoolForward(x.data, g, output, indices);
  return {
    output: { shape: g.outputShape, dtype: x.dtype, data: output },
    indices: { shape: g.outputShape, dtype: 'int64', data: indices },
  };
}

function maxPoolBackward(
  fn: MaxPoolName,
  gradOutput: FloatTensor,
  input: FloatTensor,
  indices: IntTensor,
  options: MaxPoolOptions,
): FloatTensor {
  const args = readMaxPoolArgs(fn, options as unknown as Options);
  const x = floatTensor(fn, 'input', input);
  const g = maxPoolGeometry(fn, x.shape, args, true);
  const grad = gradOutputFor(fn, gradOutput, g.outputShape, x);
  check(
    indices.dtype === 'int64' && indices.data instanceof Int32Array && sameShape(indices.shape, g.outputShape),
    () => `${fn}: expected int64 indices of shape ${formatSizes(g.outputShape)}, but got ${indices.dtype} ${formatSizes(indices.shape)}`,
  );
  const gradInput = allocate(x.dtype, x.data.length);
  const planeSize = g.depth.size * g.height.size * g.width.size;
  const done = gradInput instanceof Float32Array && grad.data instanceof Float32Array && maxPoolBackwardFloat32(grad.data, indices.data, planeSize, gradInput);
  if (!done) maxPoolBackwardLoop(grad.data, indices.data, g, gradInput);
  return { shape: [...x.shape], dtype: x.dtype, data: gradInput };
}

export function maxPool1d(input: FloatTensor, opts: MaxPoolOptions): { output: FloatTensor; indices?: IntTensor } {
  return maxPool('max_pool1d', input, opts);
}

export function maxPool2d(input: FloatTensor, opts: MaxPoolOptions): { output: FloatTensor; indices?: IntTensor } {
  return maxPool('max_pool2d', input, opts);
}

export function maxPool3d(input: FloatTensor, opts: MaxPoolOptions): { output: FloatTensor; indices?: IntTensor } {
  return maxPool('max_pool3d', input, opts);
}

/**
 * Backward of max_pool1d given the forward's indices. It applies the checks of the indices path,
 * which PyTorch takes whenever the input requires grad: an input shorter than the window raises
 * "Output size is too small" here even though the forward without return_indices returned an
 * empty output.
 */
export function maxPool1dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: MaxPoolOptions): FloatTensor {
  return maxPoolBackward('max_pool1d', gradOutput, input, indices, opts);
}

export function maxPool2dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: MaxPoolOptions): FloatTensor {
  return maxPoolBackward('max_pool2d', gradOutput, input, indices, opts);
}

export function maxPool3dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: MaxPoolOptions): FloatTensor {
  return maxPoolBackward('max_pool3d', gradOutput, input, indices, opts);
}

function maxPoolOp(fn: MaxPoolName, dims: string): OpSpec {
  const options = (params: Params) => params as unknown as MaxPoolOptions;
  return {
    name: fn,
    summary: `${dims} max pooling (torch.nn.functional.${fn}), with optional argmax indices`,
    tensorArgs: [{ name: 'input', kind: 'float' }],
    gradients: ['grad_input'],
    plan(shapes, params) {
      const args = readMaxPoolArgs(fn, params);
      const g = maxPoolGeometry(fn, inputShape(fn, shapes), args, false);
      const outputs: Record<string, readonly number[]> = { output: g.outputShape };
      if (args.returnIndices) outputs['indices'] = g.outputShape;
      return { outputs, work: poolWork(g) };
    },
    forward(tensors, params) {
      const { output, indices } = maxPool(fn, tensors['input'] as FloatTensor, options(params));
      const results: Record<string, Tensor> = { output };
      if (params['return_indices'] === true) results['indices'] = indices;
      return results;
    },
    backward(tensors, params) {
      const input = floatTensor(fn, 'input', tensors['input']);
      // The indices come from the forward on the same input, through the path autograd takes.
      const args = readMaxPoolArgs(fn, params);
      const g = maxPoolGeometry(fn, input.shape, args, true);
      const indices = allocate('int64', numel(g.outputShape));
      maxPoolForward(input.data, g, allocate(input.dtype, indices.length), indices);
      const argmax: IntTensor = { shape: g.outputShape, dtype: 'int64', data: indices };
      return { grad_input: maxPoolBackward(fn, tensors['grad_output'] as FloatTensor, input, argmax, options(params)) };
    },
  };
}

export const maxPoolOps: OpSpec[] = [
  maxPoolOp('max_pool1d', '1d'),
  maxPoolOp('max_pool2d', '2d'),
  maxPoolOp('max_pool3d', '3d'),
];
