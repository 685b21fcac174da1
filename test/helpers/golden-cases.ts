/** Golden tensors as the typed kernels take them, and the checks the golden-case tests share. */
import { expect } from 'vitest';
import { KernelArgumentError } from '../../src/kernels/errors.js';
import type { FloatTensor, IntTensor, Tensor } from '../../src/kernels/tensor.js';
import { decodeF32, decodeF64, decodeInt, expectClose, expectExact, type EncodedTensor, type GoldenCase } from './golden.js';

export const f32 = (t: unknown) => decodeF32(t as EncodedTensor) as FloatTensor;
export const f64 = (t: unknown) => decodeF64(t as EncodedTensor) as FloatTensor;
export const int = (t: unknown) => decodeInt(t as EncodedTensor) as IntTensor;

/** A float32 tensor of zeros: input for cases that only check arguments. */
export function zerosF32(shape: number[]): FloatTensor {
  return { shape, dtype: 'float32', data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}

/** Integer data with quarter-step gradients sums exactly in float32: those cases must match bit for bit. */
export function expectMatch(c: GoldenCase, actual: Tensor | undefined, expected: unknown) {
  if (c.data_kind === 'int') expectExact(actual, expected as EncodedTensor);
  else expectClose(actual, expected as EncodedTensor, 1e-5, 1e-4);
}

/** `fn` throws a KernelArgumentError of this Python type and exactly this message. */
export function expectRejection(fn: () => unknown, pythonType: string, message: string) {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, 'expected an error').toBeInstanceOf(KernelArgumentError);
  expect((error as KernelArgumentError).pythonType).toBe(pythonType);
  expect((error as Error).message).toBe(message);
}
