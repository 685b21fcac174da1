/** gemm against a plain triple loop, on shapes that cross every blocking boundary. */
import { describe, expect, it } from 'vitest';
import { gemm } from '../../src/kernels/gemm.js';
import type { FloatArray } from '../../src/kernels/tensor.js';

/** Small integers keep every partial sum exact, so any summation order must agree bit for bit. */
function integers(n: number, seed: number, Type: typeof Float32Array | typeof Float64Array): FloatArray {
  const out = new Type(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 24) % 7 - 3;
  }
  return out;
}

interface Case {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
}

function reference(c: Case, A: FloatArray, aOff: number, lda: number, B: FloatArray, bOff: number, ldb: number, C: FloatArray, cOff: number, ldc: number) {
  const out = Float64Array.from(C);
  for (let i = 0; i < c.M; i++) {
    for (let j = 0; j < c.N; j++) {
      let sum = 0;
      for (let k = 0; k < c.K; k++) {
        const a = c.transA ? A[aOff + k * lda + i]! : A[aOff + i * lda + k]!;
        const b = c.transB ? B[bOff + j * ldb + k]! : B[bOff + k * ldb + j]!;
        sum += a * b;
      }
      const at = cOff + i * ldc + j;
      out[at] = c.alpha * sum + (c.beta === 0 ? 0 : c.beta * C[at]!);
    }
  }
  return out;
}

function run(c: Case, Type: typeof Float32Array | typeof Float64Array) {
  // Leading dimensions wider than the matrices and non-zero offsets exercise the strides.
  const rowsA = c.transA ? c.K : c.M;
  const colsA = c.transA ? c.M : c.K;
  const rowsB = c.transB ? c.N : c.K;
  const colsB = c.transB ? c.K : c.N;
  const lda = colsA + 3;
  const ldb = colsB + 1;
  const ldc = c.N + 2;
  const A = integers(5 + rowsA * lda, 1, Type);
  const B = integers(7 + rowsB * ldb, 2, Type);
  const C = integers(4 + c.M * ldc, 3, Type);
  const expected = reference(c, A, 5, lda, B, 7, ldb, C, 4, ldc);
  gemm(c.transA, c.transB, c.M, c.N, c.K, c.alpha, A, 5, lda, B, 7, ldb, c.beta, C, 4, ldc);
  let mismatches = 0;
  for (let i = 0; i < C.length; i++) if (C[i] !== expected[i]) mismatches++;
  expect(mismatches).toBe(0);
}

const shapes: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [4, 4, 4],
  [6, 576, 25], // LeNet conv1
  [17, 33, 300], // K crosses one depth block
  [130, 9, 13], // M crosses one row block
  [5, 2050, 3], // N crosses one column block
  [64, 70, 520],
  [2, 84, 120], // a last column panel half full (LeNet fc2)
  [12, 20, 260],
];

describe('gemm', () => {
  for (const [M, N, K] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${M}x${N}x${K} transA=${transA} transB=${transB}`, () => {
          run({ M, N, K, transA, transB, alpha: 1, beta: 0 }, Float32Array);
          run({ M, N, K, transA, transB, alpha: -2, beta: 1 }, Float64Array);
          run({ M, N, K, transA, transB, alpha: 0.5, beta: 3 }, Float32Array);
        });
      }
    }
  }

  it('beta = 0 overwrites NaN in C, as BLAS does', () => {
    const C = new Float32Array([NaN, NaN, NaN, NaN]);
    gemm(false, false, 2, 2, 1, 1, new Float32Array([1, 2]), 0, 1, new Float32Array([3, 4]), 0, 2, 0, C, 0, 2);
    expect([...C]).toEqual([3, 4, 6, 8]);
  });

  it('K = 0 only scales C', () => {
    const C = new Float64Array([1, 2]);
    gemm(false, false, 1, 2, 0, 1, new Float64Array(0), 0, 1, new Float64Array(0), 0, 2, 2, C, 0, 2);
    expect([...C]).toEqual([2, 4]);
  });

  it('float32 products sum in float32, in k order (the SIMD path)', () => {
    const M = 5, N = 19, K = 200; // one depth block, large enough for the blocked path
    let s = 7;
    const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    const A = Float32Array.from({ length: M * K }, next);
    const B = Float32Array.from({ length: K * N }, next);
    const C = new Float32Array(M * N);
    gemm(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, C, 0, N);
    let mismatches = 0;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum = Math.fround(sum + Math.fround(A[i * K + k]! * B[k * N + j]!));
        if (C[i * N + j] !== sum) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  it('float32 results are added onto C once per depth block, rounded to float32 (C rows adjacent)', () => {
    // ldc = N: the block is added onto C in the module. What must come out is C + block 0 (+ block 1),
    // each add rounded to float32, each block summed from zero in float32, in k order.
    let s = 11;
    const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    // 5 x 1100: two column blocks of C, whose rows are then apart (one copy a row).
    for (const [M, N, K] of [[6, 25, 150], [130, 37, 40], [3, 7, 300], [9, 64, 512], [5, 1100, 300]] as const) {
      const A = Float32Array.from({ length: M * K }, next);
      const B = Float32Array.from({ length: K * N }, next);
      const C0 = Float32Array.from({ length: M * N }, next);
      const depth = Math.ceil(K / Math.ceil(K / 256));
      const expected = Float32Array.from(C0);
      for (let pc = 0; pc < K; pc += depth) {
        const kc = Math.min(depth, K - pc);
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let block = 0;
            for (let k = pc; k < pc + kc; k++) block = Math.fround(block + Math.fround(A[i * K + k]! * B[k * N + j]!));
            expected[i * N + j] = Math.fround(expected[i * N + j]! + block);
          }
        }
      }
      const C = Float32Array.from(C0);
      gemm(false, false, M, N, K, 1, A, 0, K, B, 0, N, 1, C, 0, N);
      expect(Array.from(C), `${M}x${N}x${K}`).toEqual(Array.from(expected));
    }
  });

  it('float64 products accumulate in double precision within a block', () => {
    // 1 + 1e-8 - 1 in float32 steps would lose the 1e-8; a double accumulator keeps it.
    const A = new Float64Array([1, 1e-8, -1]);
    const B = new Float64Array([1, 1, 1]);
    const C = new Float32Array(1);
    gemm(false, false, 1, 1, 3, 1, A, 0, 3, B, 0, 1, 0, C, 0, 1);
    expect(C[0]).toBe(Math.fround(1e-8));
  });
});
