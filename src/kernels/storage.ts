import type { Dtype, FloatArray, FloatDtype, FloatTensor, IntTensor, TensorData } from './tensor.js';

/**
 * The one place tensor storage is allocated. A faster compute core (WebAssembly memory, pooled
 * buffers) replaces this function without touching the operators.
 */
export function allocate(dtype: 'int64', length: number): Int32Array;
export function allocate(dtype: FloatDtype, length: number): FloatArray;
export function allocate(dtype: Dtype, length: number): TensorData;
export function allocate(dtype: Dtype, length: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int64':
      return new Int32Array(length);
  }
}

/** A zero-filled float tensor of the given dtype and shape. */
export function zerosFloat(dtype: FloatDtype, shape: readonly number[]): FloatTensor {
  let n = 1;
  for (const d of shape) n *= d;
  return { shape: [...shape], dtype, data: allocate(dtype, n) };
}

/** A zero-filled int64 tensor of the given shape. */
export function zerosInt(shape: readonly number[]): IntTensor {
  let n = 1;
  for (const d of shape) n *= d;
  return { shape: [...shape], dtype: 'int64', data: allocate('int64', n) };
}
