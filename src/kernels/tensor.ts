/**
 * The tensor type the kernel library computes on: a shape, a dtype and a flat row-major typed array.
 *
 * `int64` is PyTorch's dtype for indices and class targets. It is stored as an Int32Array: every
 * value the library produces is a per-plane index, and the service's element limits keep planes far
 * below 2^31 elements, so the narrower storage loses nothing and keeps the loops on 32-bit integers.
 */
export type FloatDtype = 'float32' | 'float64';
export type Dtype = FloatDtype | 'int64';

export type FloatArray = Float32Array | Float64Array;
export type TensorData = Float32Array | Float64Array | Int32Array;

export interface Tensor<D extends TensorData = TensorData> {
  readonly shape: readonly number[];
  readonly dtype: Dtype;
  readonly data: D;
}

export type FloatTensor = Tensor<FloatArray> & { readonly dtype: FloatDtype };
export type IntTensor = Tensor<Int32Array> & { readonly dtype: 'int64' };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isFloatTensor(t: Tensor): t is FloatTensor {
  return t.dtype === 'float32' || t.dtype === 'float64';
}
