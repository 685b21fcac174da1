/** Loading and comparing the PyTorch 1.13.1 reference vectors in test/fixtures/golden. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Tensor } from '../../src/kernels/tensor.js';

export type Num = number | 'NaN' | 'Infinity' | '-Infinity';
export interface EncodedTensor {
  shape: number[];
  data: Num[];
}

export interface GoldenCase {
  id: string;
  fn: string;
  params: Record<string, unknown>;
  note?: string;
  data_kind?: string;
  input?: EncodedTensor;
  output?: EncodedTensor;
  indices?: EncodedTensor;
  grad_output?: EncodedTensor;
  grad_input?: EncodedTensor;
  [field: string]: unknown;
}

export interface GoldenFile {
  op_family: string;
  cases: GoldenCase[];
  [field: string]: unknown;
}

const dir = fileURLToPath(new URL('../fixtures/golden/', import.meta.url));

export function loadGolden(file: string): GoldenFile {
  return JSON.parse(readFileSync(dir + file, 'utf8')) as GoldenFile;
}

export const num = (v: Num): number =>
  typeof v === 'number' ? v : v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : -Infinity;

export function decodeF32(t: EncodedTensor): Tensor {
  return { shape: t.shape, dtype: 'float32', data: Float32Array.from(t.data, num) };
}

export function decodeF64(t: EncodedTensor): Tensor {
  return { shape: t.shape, dtype: 'float64', data: Float64Array.from(t.data, num) };
}

export function decodeInt(t: EncodedTensor): Tensor {
  return { shape: t.shape, dtype: 'int64', data: Int32Array.from(t.data as number[]) };
}

/** float32 equality: bit-exact, any NaN equals any NaN; the sign of zero counts only when asked. */
function sameF32(a: number, b: number, signedZero: boolean): boolean {
  if (Number.isNaN(a)) return Number.isNaN(b);
  const fa = Math.fround(a);
  const fb = Math.fround(b);
  return signedZero ? Object.is(fa, fb) : fa === fb;
}

function firstMismatch(
  actual: ArrayLike<number>,
  expected: readonly Num[],
  same: (a: number, b: number) => boolean,
): string | undefined {
  for (let i = 0; i < expected.length; i++) {
    const b = num(expected[i]!);
    const a = actual[i]!;
    if (!same(a, b)) return `element ${i}: got ${a}, expected ${b}`;
  }
  return undefined;
}

/** Shape equal and every element bit-identical in float32 (or equal, for integer tensors). */
export function expectExact(actual: Tensor | undefined, expected: EncodedTensor, opts: { signedZero?: boolean } = {}) {
  expect(actual, 'result missing').toBeDefined();
  expect([...actual!.shape]).toEqual(expected.shape);
  expect(actual!.data.length).toBe(expected.data.length);
  const mismatch = firstMismatch(actual!.data, expected.data, (a, b) => sameF32(a, b, opts.signedZero ?? false));
  expect(mismatch).toBeUndefined();
}

/** Shape equal and |a-b| <= atol + rtol*|b| elementwise; NaN matches NaN, infinities must be equal. */
export function expectClose(actual: Tensor | undefined, expected: EncodedTensor, atol: number, rtol: number) {
  expect(actual, 'result missing').toBeDefined();
  expect([...actual!.shape]).toEqual(expected.shape);
  expect(actual!.data.length).toBe(expected.data.length);
  const mismatch = firstMismatch(actual!.data, expected.data, (a, b) => {
    if (Number.isNaN(b)) return Number.isNaN(a);
    if (!Number.isFinite(b)) return a === b;
    return Math.abs(a - b) <= atol + rtol * Math.abs(b);
  });
  expect(mismatch).toBeUndefined();
}
