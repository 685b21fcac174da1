/**
 * Pooling arguments as torch.nn.functional receives them: keyword arguments under PyTorch's names,
 * ints or tuples of ints (JSON numbers or arrays), `null` for None. Values of the wrong type are
 * rejected the way Python would, with a KernelArgumentError of pythonType TypeError.
 * Also the checks on the tensors a pool is given.
 */
import { argumentTypeError, pythonTypeName, readInt, readIntOrTuple } from '../arguments.js';
import { check, formatSizes, KernelArgumentError } from '../errors.js';
import { allocate } from '../storage.js';
import { numel, type FloatArray, type FloatDtype, type FloatTensor, type Tensor } from '../tensor.js';

export type Options = Readonly<Record<string, unknown>>;

export function typeError(message: string): KernelArgumentError {
  return new KernelArgumentError(message, 'TypeError');
}

/** Python rejects keyword arguments a function does not have; so do we (it catches misspellings). */
export function checkKeywords(fn: string, options: Options, accepted: readonly string[]): void {
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && !accepted.includes(key)) {
      throw typeError(`${fn}() got an unexpected keyword argument '${key}'`);
    }
  }
}

export function required(fn: string, name: string, value: unknown): unknown {
  if (value === undefined) throw typeError(`${fn}() missing 1 required positional argument: '${name}'`);
  return value;
}

/** An `int[]` argument: an int (a one-element list) or a tuple of ints. */
export function readIntList(fn: string, name: string, value: unknown): number[] {
  return readIntOrTuple(value, fn, name);
}

/** An `int[]` argument with a default; None is not accepted (PyTorch's parser rejects it too). */
export function readIntListOr(fn: string, name: string, value: unknown, fallback: number): number[] {
  return value === undefined ? [fallback] : readIntList(fn, name, value);
}

/** `stride`: absent, None or an empty tuple all mean "the kernel size", returned as an empty list. */
export function readStride(fn: string, value: unknown): number[] {
  return value === undefined || value === null ? [] : readIntList(fn, 'stride', value);
}

/** A bool argument. None is rejected, as PyTorch's parser does for a `bool` parameter. */
export function readBool(fn: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw argumentTypeError(fn, name, 'bool', value);
  return value;
}

export function readOptionalInt(fn: string, name: string, value: unknown): number | null {
  return value === undefined || value === null ? null : readInt(value, fn, name);
}

/** A Python number (int or float). */
export function readNumber(fn: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw typeError(`${fn}(): argument '${name}' must be a number, not ${pythonTypeName(value)}`);
  }
  return value;
}

/** The input shape a plan is asked about. */
export function inputShape(fn: string, shapes: Readonly<Record<string, readonly number[]>>): readonly number[] {
  const shape = shapes['input'];
  if (shape === undefined) throw typeError(`${fn}() missing 1 required positional argument: 'input'`);
  return shape;
}

/** A float tensor argument, checked for a consistent dtype, storage and length. */
export function floatTensor(fn: string, name: string, tensor: Tensor | undefined): FloatTensor {
  if (tensor === undefined) throw typeError(`${fn}() missing 1 required positional argument: '${name}'`);
  const { dtype, data, shape } = tensor;
  check(
    (dtype === 'float32' && data instanceof Float32Array) || (dtype === 'float64' && data instanceof Float64Array),
    () => `${fn}: expected '${name}' to be a float32 or float64 tensor, but got ${dtype}`,
  );
  check(
    data.length === numel(shape),
    () => `${fn}: '${name}' has shape ${formatSizes(shape)} but holds ${data.length} elements`,
  );
  return tensor as FloatTensor;
}

/**
 * The upstream gradient for a backward: it must have the forward output's shape, and it is cast to
 * the input's dtype as autograd does.
 */
export function gradOutputFor(fn: string, gradOutput: Tensor | undefined, outputShape: readonly number[], like: FloatTensor): FloatTensor {
  const grad = floatTensor(fn, 'grad_output', gradOutput);
  check(
    sameShape(grad.shape, outputShape),
    () =>
      `Mismatch in shape: grad_output[0] has a shape of torch.Size(${formatSizes(grad.shape)}) and output[0] ` +
      `has a shape of torch.Size(${formatSizes(outputShape)}).`,
  );
  if (grad.dtype === like.dtype) return grad;
  const data = allocate(like.dtype, grad.data.length);
  data.set(grad.data);
  return { shape: grad.shape, dtype: like.dtype, data };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function dtypeOf(data: FloatArray): FloatDtype {
  return data instanceof Float32Array ? 'float32' : 'float64';
}

/** Rounds a JS number to the precision of `data`'s elements (float32 or float64). */
export function roundingOf(data: FloatArray): (value: number) => number {
  return data instanceof Float32Array ? Math.fround : (value) => value;
}
