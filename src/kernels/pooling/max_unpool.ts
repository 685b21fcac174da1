/**
 * max_unpool1d/2d/3d (torch.nn.functional) and their backward, as PyTorch 1.13 computes them:
 * the Python wrapper works out the output size (`_unpool_output_size`), then ATen zero-fills the
 * output and writes `out[plane][indices[i]] = input[i]` in memory order, so with duplicate indices
 * the last write wins (aten/src/ATen/native/MaxUnpooling.cpp, cpu/MaxUnpoolKernel.cpp).
 * max_unpool1d runs as max_unpool2d on an (..., L, 1) view, which shows in its error messages.
 *
 * The backward is a gather: `grad_input[i] = grad_output[plane][indices[i]]`.
 */
import {
  argumentTypeError,
  checkGradOutput,
  expandIntOrTuple,
  floatArg,
  formatPythonTuple,
  intArg,
  readIntOrTuple,
  shapeArg,
} from '../arguments.js';
import { KernelArgumentError, check, formatSizes } from '../errors.js';
import type { OpSpec, Params, Shapes, Tensors } from '../registry.js';
import { allocate } from '../storage.js';
import type { FloatTensor, IntTensor } from '../tensor.js';
import { numel } from '../tensor.js';

type PoolDims = 1 | 2 | 3;

export interface MaxUnpoolOptions {
  readonly kernel_size: number | readonly number[];
  /** Defaults to kernel_size. */
  readonly stride?: number | readonly number[] | null;
  readonly padding?: number | readonly number[];
  /** d entries, or d + 2 whose first two (N, C) are ignored. */
  readonly output_size?: readonly number[] | null;
}

export interface MaxUnpoolGeometry {
  /** Number of (n, c) planes. */
  readonly planes: number;
  /** Elements per plane of the input and of the output. */
  readonly inPlane: number;
  readonly outPlane: number;
  readonly outputShape: readonly number[];
  /** The output plane as ATen's messages print it: `4x4`, `6x1` (1d), `4x4x4`. */
  readonly planeSizes: string;
}

const tupleIndexError = () => new KernelArgumentError('tuple index out of range', 'IndexError');

/** torch.nn.functional._unpool_output_size: the default size, or the checked explicit one. */
function unpoolOutputSize(
  fn: string,
  inputShape: readonly number[],
  kernel: readonly number[],
  stride: readonly number[],
  padding: readonly number[],
  outputSize: unknown,
): number[] {
  const defaultSize = kernel.map((k, d) => {
    const dim = inputShape.length - kernel.length + d;
    if (dim < 0 || d >= stride.length || d >= padding.length) throw tupleIndexError();
    return (inputShape[dim]! - 1) * stride[d]! + k - 2 * padding[d]!;
  });
  if (outputSize === undefined || outputSize === null) return defaultSize;
  // A bare int has no len() in Python.
  if (!Array.isArray(outputSize)) throw argumentTypeError(fn, 'output_size', 'tuple of ints', outputSize);
  let size = readIntOrTuple(outputSize, fn, 'output_size');
  if (size.length === kernel.length + 2) size = size.slice(2);
  if (size.length !== kernel.length) {
    throw new KernelArgumentError(
      `output_size should be a sequence containing ${kernel.length} or ${kernel.length + 2} elements, but it has a length of '${size.length}'`,
      'ValueError',
    );
  }
  for (let d = 0; d < kernel.length; d++) {
    const min = defaultSize[d]! - stride[d]!;
    const max = defaultSize[d]! + stride[d]!;
    if (!(min < size[d]! && size[d]! < max)) {
      throw new KernelArgumentError(
        `invalid output_size "${formatPythonTuple(size)}" (dim ${d} must be between ${min} and ${max})`,
        'ValueError',
      );
    }
  }
  return size;
}

function checkSameShape(inputShape: readonly number[], indicesShape: readonly number[]): void {
  const same = inputShape.length === indicesShape.length && inputShape.every((d, i) => d === indicesShape[i]);
  check(
    same,
    () => `Expected shape of indices to be same as that of the input tensor (${formatSizes(inputShape)}) but got indices tensor with shape: ${formatSizes(indicesShape)}`,
  );
}

function checkNonEmpty(fnName: string, shape: readonly number[]): void {
  for (let i = 1; i < shape.length; i++) {
    check(
      shape[i]! > 0,
      () => `${fnName}: Expected input to have non-zero size for non-batch dimensions, but got ${formatSizes(shape)} with dimension ${i} being empty.`,
    );
  }
}

/** Every check that needs no data, in PyTorch's order, and the output it gives. */
export function planMaxUnpool(
  dims: PoolDims,
  inputShape: readonly number[],
  indicesShape: readonly number[],
  opts: MaxUnpoolOptions | Params,
): MaxUnpoolGeometry {
  const fn = `max_unpool${dims}d`;
  if (opts.kernel_size === undefined) throw new KernelArgumentError(`${fn}() missing 1 required positional argument: 'kernel_size'`, 'TypeError');
  const kernel = expandIntOrTuple(opts.kernel_size, dims, fn, 'kernel_size');
  const stride = opts.stride === undefined || opts.stride === null ? kernel : expandIntOrTuple(opts.stride, dims, fn, 'stride');
  const padding = expandIntOrTuple(opts.padding ?? 0, dims, fn, 'padding');
  let size = unpoolOutputSize(fn, inputShape, kernel, stride, padding, opts.output_size);

  let input = inputShape;
  let indices = indicesShape;
  if (dims === 1) {
    size = [...size, 1];
    input = [...inputShape, 1];
    indices = [...indicesShape, 1];
  }
  const ndim = input.length;
  if (dims === 3) {
    check(ndim === 4 || ndim === 5, () => `Input to max_unpooling3d should be a 4d or 5d Tensor, but got a tensor with ${ndim} dimensions.`);
    check(size.length === 3, () => `There should be exactly three elements (depth, height, width) in output_size, but got ${size.length} elements.`);
    check(stride.length === 3, () => `There should be exactly three elements (depth, height, width) in stride, but got: ${stride.length} elements.`);
    check(padding.length === 3, () => `There should be exactly three elements (depth, height, width) in padding, but got: ${padding.length} elements.`);
    checkSameShape(input, indices);
    checkNonEmpty('max_unpooling3d_forward_out_cpu()', input);
    check(stride.every((s) => s > 0), () => `strides should be greater than zero, but got stride: ${formatSizes(stride)}`);
  } else {
    check(size.length === 2, () => `There should be exactly two elements (height, width) in output_size, but got ${size.length} elements.`);
    check(ndim === 3 || ndim === 4, () => `Input to max_unpooling2d should be a 3d or 4d Tensor, but got a tensor with ${ndim} dimensions.`);
    checkSameShape(input, indices);
    checkNonEmpty('max_unpooling2d_forward_out_cpu()', input);
  }
  const spatial = dims === 3 ? 3 : 2;
  const lead = input.slice(0, ndim - spatial);
  const viewShape = [...lead, ...size];
  const negative = viewShape.find((d) => d < 0);
  check(negative === undefined, () => `Trying to create tensor with negative dimension ${negative}: ${formatSizes(viewShape)}`);
  return {
    planes: numel(lead),
    inPlane: numel(input.slice(ndim - spatial)),
    outPlane: numel(size),
    outputShape: dims === 1 ? viewShape.slice(0, -1) : viewShape,
    planeSizes: size.join('x'),
  };
}

function checkTensors(fn: string, input: FloatTensor, indices: IntTensor): void {
  check(indices.dtype === 'int64', () => `elements in indices should be type int64 but got: ${indices.dtype}`);
  check(input.data.length === numel(input.shape) && indices.data.length === numel(indices.shape), `${fn}(): tensor data does not match its shape`);
}

function maxUnpool(dims: PoolDims, input: FloatTensor, indices: IntTensor, opts: MaxUnpoolOptions): FloatTensor {
  const g = planMaxUnpool(dims, input.shape, indices.shape, opts);
  checkTensors(`max_unpool${dims}d`, input, indices);
  const out = allocate(input.dtype, g.planes * g.outPlane);
  // ATen skips the kernel, and so the index check, when the output is empty.
  if (out.length > 0) {
    const x = input.data;
    const idx = indices.data;
    let invalid: number | undefined;
    for (let p = 0, i = 0; p < g.planes; p++) {
      const base = p * g.outPlane;
      for (let k = 0; k < g.inPlane; k++, i++) {
        const target = idx[i]!;
        if (target < 0 || target >= g.outPlane) invalid = target;
        else out[base + target] = x[i]!;
      }
    }
    // The last invalid index in memory order is reported; the message really lacks its ')'.
    check(invalid === undefined, () => `Found an invalid max index: ${invalid} (output volumes are of size ${g.planeSizes}`);
  }
  return { shape: [...g.outputShape], dtype: input.dtype, data: out };
}

function maxUnpoolBackward(dims: PoolDims, gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: MaxUnpoolOptions): FloatTensor {
  const g = planMaxUnpool(dims, input.shape, indices.shape, opts);
  checkTensors(`max_unpool${dims}d`, input, indices);
  checkGradOutput(gradOutput, input, g.outputShape);
  const grad = gradOutput.data;
  const idx = indices.data;
  const gradInput = allocate(input.dtype, input.data.length);
  // PyTorch gathers from grad_output viewed as (..., plane elements): that is the dim it reports.
  const gatherDim = (dims === 1 ? input.shape.length + 1 : input.shape.length) - (dims === 3 ? 3 : 2);
  for (let p = 0, i = 0; p < g.planes; p++) {
    const base = p * g.outPlane;
    for (let k = 0; k < g.inPlane; k++, i++) {
      const source = idx[i]!;
      check(
        source >= 0 && source < g.outPlane,
        () => `index ${source} is out of bounds for dimension ${gatherDim} with size ${g.outPlane}`,
      );
      gradInput[i] = grad[base + source]!;
    }
  }
  return { shape: [...input.shape], dtype: input.dtype, data: gradInput };
}

export function maxUnpool1d(input: FloatTensor, indices: IntTensor, opts: MaxUnpoolOptions): FloatTensor {
  return maxUnpool(1, input, indices, opts);
}
export function maxUnpool2d(input: FloatTensor, indices: IntTensor, opts: MaxUnpoolOptions): FloatTensor {
  return maxUnpool(2, input, indices, opts);
}
export function maxUnpool3d(input: FloatTensor, indices: IntTensor, opts: MaxUnpoolOptions): FloatTensor {
  return maxUnpool(3, input, indices, opts);
}
export function maxUnpool1dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: MaxUnpoolOptions): FloatTensor {
  return maxUnpoolBackward(1, gradOutput, input, indices, opts);
}
export function maxUnpool2dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: MaxUnpoolOptions): FloatTensor {
  return maxUnpoolBackward(2, gradOutput, input, indices, opts);
}
export function maxUnpool3dBackward(gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: MaxUnpoolOptions): FloatTensor {
  return maxUnpoolBackward(3, gradOutput, input, indices, opts);
}

function maxUnpoolOp(dims: PoolDims): OpSpec {
  const name = `max_unpool${dims}d`;
  const options = (params: Params) => params as unknown as MaxUnpoolOptions;
  return {
    name,
    summary: `torch.nn.functional.${name}(input, indices, kernel_size, stride=None, padding=0, output_size=None)`,
    tensorArgs: [
      { name: 'input', kind: 'float' },
      { name: 'indices', kind: 'int64' },
    ],
    gradients: ['grad_input'],
    plan(shapes: Shapes, params: Params) {
      const input = shapeArg(name, shapes, 'input');
      const g = planMaxUnpool(dims, input, shapeArg(name, shapes, 'indices'), params);
      // Zero-filling the output plus one write per input element.
      return { outputs: { output: g.outputShape }, work: g.planes * (g.outPlane + g.inPlane) };
    },
    forward(tensors: Tensors, params: Params) {
      return { output: maxUnpool(dims, floatArg(name, tensors, 'input'), intArg(name, tensors, 'indices'), options(params)) };
    },
    backward(tensors: Tensors, params: Params) {
      const gradOutput = floatArg(name, tensors, 'grad_output');
      const input = floatArg(name, tensors, 'input');
      return { grad_input: maxUnpoolBackward(dims, gradOutput, input, intArg(name, tensors, 'indices'), options(params)) };
    },
  };
}

export const maxUnpoolOps: OpSpec[] = [maxUnpoolOp(1), maxUnpoolOp(2), maxUnpoolOp(3)];
