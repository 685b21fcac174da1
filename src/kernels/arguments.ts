/**
 * Arguments of the OpSpec entries. Keyword arguments arrive as JSON: a value of the wrong type is
 * rejected the way PyTorch's argument parser rejects it, with a TypeError naming the function, the
 * argument and the Python type that was given (a JSON array reads as a tuple, `null` as None).
 * Tensor arguments are checked for presence and dtype, gradients against the forward's output.
 */
import { KernelArgumentError, check } from './errors.js';
import type { Shapes, Tensors } from './registry.js';
import type { FloatTensor, IntTensor, Tensor } from './tensor.js';
import { isFloatTensor } from './tensor.js';

/** The Python type name of a JSON value, as PyTorch's TypeErrors print it. */
export function pythonTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (Array.isArray(value)) return 'tuple';
  return 'dict';
}

/** A JSON number that is an exact integer (booleans are not integers here). */
export function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

export function argumentTypeError(fn: string, name: string, expected: string, value: unknown): KernelArgumentError {
  return new KernelArgumentError(`${fn}(): argument '${name}' must be ${expected}, not ${pythonTypeName(value)}`, 'TypeError');
}

function elementTypeError(fn: string, name: string, element: unknown, position: number): KernelArgumentError {
  return new KernelArgumentError(
    `${fn}(): argument '${name}' must be tuple of ints, but found element of type ${pythonTypeName(element)} at pos ${position}`,
    'TypeError',
  );
}

export function readInt(value: unknown, fn: string, name: string): number {
  if (!isInt(value)) throw argumentTypeError(fn, name, 'int', value);
  return value;
}

/** `undefined` and `null` give the default, as Python's falsy None does for a flag. */
export function readBool(value: unknown, fn: string, name: string, defaultValue: boolean): boolean {
  if (value === undefined || value === null) return defaultValue;
  if (typeof value !== 'boolean') throw argumentTypeError(fn, name, 'bool', value);
  return value;
}

/** An int or a tuple of ints, kept as given: an int becomes a one-element list. */
export function readIntOrTuple(value: unknown, fn: string, name: string): number[] {
  if (isInt(value)) return [value];
  if (!Array.isArray(value)) throw argumentTypeError(fn, name, 'tuple of ints', value);
  return value.map((element, i) => {
    if (!isInt(element)) throw elementTypeError(fn, name, element, i + 1);
    return element;
  });
}

/** Python's `_ntuple(n)`: an int is repeated n times, a tuple is taken as it is (any length). */
export function expandIntOrTuple(value: unknown, n: number, fn: string, name: string): number[] {
  if (isInt(value)) return new Array<number>(n).fill(value);
  return readIntOrTuple(value, fn, name);
}

/** Formats a list as Python prints a tuple: `(11, 8)`, `(11,)`. */
export function formatPythonTuple(values: readonly number[]): string {
  return values.length === 1 ? `(${values[0]},)` : `(${values.join(', ')})`;
}

export function shapeArg(fn: string, shapes: Shapes, name: string): readonly number[] {
  const shape = shapes[name];
  if (shape === undefined) throw new KernelArgumentError(`${fn}(): missing tensor argument '${name}'`, 'TypeError');
  return shape;
}

export function floatArg(fn: string, tensors: Tensors, name: string): FloatTensor {
  const t = tensors[name];
  if (t === undefined || !isFloatTensor(t)) {
    throw new KernelArgumentError(`${fn}(): argument '${name}' must be a float32 or float64 tensor`, 'TypeError');
  }
  return t;
}

export function intArg(fn: string, tensors: Tensors, name: string): IntTensor {
  const t = tensors[name];
  if (t === undefined || t.dtype !== 'int64') {
    throw new KernelArgumentError(`${fn}(): argument '${name}' must be an int64 tensor`, 'TypeError');
  }
  return t as IntTensor;
}

/** A gradient must have the forward output's shape (autograd's message) and the input's dtype. */
export function checkGradOutput(gradOutput: Tensor, input: Tensor, outputShape: readonly number[]): void {
  const same = gradOutput.shape.length === outputShape.length && gradOutput.shape.every((d, i) => d === outputShape[i]);
  check(
    same,
    () =>
      `Mismatch in shape: grad_output[0] has a shape of torch.Size([${gradOutput.shape.join(', ')}]) ` +
      `and output[0] has a shape of torch.Size([${outputShape.join(', ')}]).`,
  );
  check(gradOutput.dtype === input.dtype, () => `expected dtype ${input.dtype} for \`grad_output\` but got dtype ${gradOutput.dtype}`);
}
