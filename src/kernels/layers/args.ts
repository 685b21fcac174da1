/**
 * Keyword arguments of the layer ops as they arrive from JSON, checked the way PyTorch's Python
 * argument parser checks them (TypeError with its wording), plus the small shape helpers the
 * layers share.
 */
import { KernelArgumentError, formatSizes } from '../errors.js';
import type { FloatArray, FloatDtype, FloatTensor, Tensor } from '../tensor.js';

/** The Python type a JSON value arrives as: arrays are tuples, null is None. */
export function pythonTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (Array.isArray(value)) return 'tuple';
  return 'dict';
}

function typeError(message: string): KernelArgumentError {
  return new KernelArgumentError(message, 'TypeError');
}

/** Rejects keyword arguments the function does not take, like Python does. */
export function checkKeywords(fn: string, params: Readonly<Record<string, unknown>>, allowed: readonly string[]): void {
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) throw typeError(`${fn}() got an unexpected keyword argument '${key}'`);
  }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

export function intArg(fn: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!isInt(value)) throw typeError(`${fn}(): argument '${name}' must be int, not ${pythonTypeName(value)}`);
  return value;
}

/** An int or a tuple of ints (`stride=2`, `stride=(2, 1)`), returned as given. */
export function intsArg(fn: string, name: string, value: unknown, fallback: number): number | number[] {
  if (value === undefined) return fallback;
  if (isInt(value)) return value;
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (!isInt(v)) {
        throw typeError(
          `${fn}(): argument '${name}' must be tuple of ints, but found element of type ${pythonTypeName(v)} at pos ${i}`,
        );
      }
    });
    return value as number[];
  }
  throw typeError(`${fn}(): argument '${name}' must be tuple of ints, not ${pythonTypeName(value)}`);
}

export function floatArg(fn: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw typeError(`${fn}(): argument '${name}' must be float, not ${pythonTypeName(value)}`);
  return value;
}

export function boolArg(fn: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw typeError(`${fn}(): argument '${name}' must be bool, not ${pythonTypeName(value)}`);
  return value;
}

/** A dimension index wrapped like ATen's maybe_wrap_dim (a 0-d tensor takes dims -1 and 0). */
export function wrapDim(dim: number, ndim: number): number {
  const n = Math.max(ndim, 1);
  if (dim < -n || dim > n - 1) {
    throw new KernelArgumentError(
      `Dimension out of range (expected to be in range of [${-n}, ${n - 1}], but got ${dim})`,
      'IndexError',
    );
  }
  return dim < 0 ? dim + n : dim;
}

/** A double as C++ streams print it in ATen messages (6 significant digits, no trailing zeros). */
export function formatDouble(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(6)));
}

const dtypeNames: Record<string, string> = { float32: 'Float', float64: 'Double', int64: 'Long' };

/** All float tensors of one call must share a dtype, as ATen's kernels require. */
export function sameDtype(reference: FloatTensor, ...others: (Tensor | null | undefined)[]): FloatDtype {
  for (const t of others) {
    if (t && t.dtype !== reference.dtype) {
      throw new KernelArgumentError(
        `expected scalar type ${dtypeNames[reference.dtype]} but found ${dtypeNames[t.dtype]}`,
      );
    }
  }
  return reference.dtype;
}

/** A float tensor sharing the data of another, with a new shape (a view). */
export function view(t: FloatTensor, shape: readonly number[]): FloatTensor {
  return { shape: [...shape], dtype: t.dtype, data: t.data };
}

export function tensorOf(dtype: FloatDtype, shape: readonly number[], data: FloatArray): FloatTensor {
  return { shape: [...shape], dtype, data };
}

export { formatSizes };

/** A tensor argument the op cannot run without (the service normally guarantees it). */
export function required<T>(fn: string, values: Readonly<Record<string, T>>, name: string): T {
  const value = values[name];
  if (value === undefined) throw new KernelArgumentError(`${fn}() missing required argument '${name}'`, 'TypeError');
  return value;
}

/** Typed option objects are keyword-argument records too. */
export function asParams(options: object | undefined): Readonly<Record<string, unknown>> {
  return (options ?? {}) as Readonly<Record<string, unknown>>;
}

/** A float tensor argument of an OpSpec call (the service has checked its kind). */
export function floatTensor(fn: string, tensors: Readonly<Record<string, Tensor>>, name: string): FloatTensor {
  return required(fn, tensors, name) as FloatTensor;
}

export function optionalFloatTensor(tensors: Readonly<Record<string, Tensor>>, name: string): FloatTensor | null {
  return (tensors[name] as FloatTensor | undefined) ?? null;
}
