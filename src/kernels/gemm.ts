/**
 * The one matrix product every layer goes through:
 *
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
 *
 * Row-major with leading dimensions and offsets, as in BLAS `?gemm` (op(X) = X or Xᵀ). A faster core
 * (WebAssembly SIMD) can replace this function without touching the operators.
 *
 * Layout follows the BLIS scheme: B is packed in KC x NC blocks of NR-wide column panels, A in
 * MC x KC blocks of MR-high row panels, both k-major so the micro-kernel reads two contiguous
 * streams. The micro-kernel keeps an MR x NR tile of C in local doubles for a whole KC block, so
 * each loaded element feeds four multiply-adds. Panels are packed as float64 whatever the input
 * type: the micro-kernel then sees one array type (monomorphic) and products accumulate in double
 * precision; C is updated once per KC block (rounded to float32 there when C is float32).
 */
import type { FloatArray } from './tensor.js';

const MR = 4;
const NR = 4;
/** Depth of one packed block: an NR-wide B panel (KC*NR doubles) stays in L1. */
const KC = 256;
/** Rows of A packed at once (MC*KC doubles, in L2). */
const MC = 128;
/** Columns of B packed at once. */
const NC = 2048;

// Packing scratch, grown on demand and reused. Kernels run single-threaded per worker.
let packedA = new Float64Array(MC * KC);
let packedB = new Float64Array(KC * NR * 64);
const edgeTile = new Float64Array(MR * NR);

/** Below this many multiply-adds, packing costs more than it saves. */
const SMALL_WORK = 4096;

export function gemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: FloatArray,
  aOff: number,
  lda: number,
  B: FloatArray,
  bOff: number,
  ldb: number,
  beta: number,
  C: FloatArray,
  cOff: number,
  ldc: number,
): void {
  if (M <= 0 || N <= 0) return;
  scaleC(M, N, beta, C, cOff, ldc);
  if (K <= 0 || alpha === 0) return;

  if (M * N * K <= SMALL_WORK) {
    smallGemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
    return;
  }

  const aRowStride = transA ? 1 : lda; // distance between op(A)[i,k] and op(A)[i+1,k]
  const aColStride = transA ? lda : 1; // ... and op(A)[i,k+1]
  const bRowStride = transB ? 1 : ldb; // distance between op(B)[k,j] and op(B)[k+1,j]
  const bColStride = transB ? ldb : 1; // ... and op(B)[k,j+1]

  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const bPanels = Math.ceil(nc / NR);
      if (packedB.length < bPanels * NR * kc) packedB = new Float64Array(bPanels * NR * KC);
      packPanels(B, bOff + pc * bRowStride + jc * bColStride, bRowStride, bColStride, nc, kc, NR, packedB);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packPanels(A, aOff + ic * aRowStride + pc * aColStride, aColStride, aRowStride, mc, kc, MR, packedA);
        macroKernel(mc, nc, kc, alpha, packedA, packedB, C, cOff + ic * ldc + jc, ldc);
      }
    }
  }
}

/** C = beta * C, with beta = 0 clearing C without reading it (NaN in C does not survive, as in BLAS). */
function scaleC(M: number, N: number, beta: number, C: FloatArray, cOff: number, ldc: number): void {
  if (beta === 1) return;
  for (let i = 0; i < M; i++) {
    const row = cOff + i * ldc;
    if (beta === 0) C.fill(0, row, row + N);
    else for (let j = row; j < row + N; j++) C[j] *= beta;
  }
}

/** Plain triple loop for tiny products, accumulating each element in a double. */
function smallGemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: FloatArray,
  aOff: number,
  lda: number,
  B: FloatArray,
  bOff: number,
  ldb: number,
  C: FloatArray,
  cOff: number,
  ldc: number,
): void {
  const aRowStride = transA ? 1 : lda;
  const aColStride = transA ? lda : 1;
  const bRowStride = transB ? 1 : ldb;
  const bColStride = transB ? ldb : 1;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      let a = aOff + i * aRowStride;
      let b = bOff + j * bColStride;
      for (let k = 0; k < K; k++) {
        sum += A[a]! * B[b]!;
        a += aColStride;
        b += bRowStride;
      }
      C[cOff + i * ldc + j] += alpha * sum;
    }
  }
}

/**
 * Packs `count` lines (rows of op(A) or columns of op(B)) of length `kc` into panels of `width`
 * lines, k-major within a panel: out[p*width*kc + k*width + r] = src[off + (p*width+r)*lineStride + k*kStride].
 * The last panel is padded with zeros so the micro-kernel never needs a bounds test.
 */
function packPanels(
  src: FloatArray,
  off: number,
  kStride: number,
  lineStride: number,
  count: number,
  kc: number,
  width: number,
  out: Float64Array,
): void {
  let o = 0;
  for (let line0 = 0; line0 < count; line0 += width) {
    const lines = Math.min(width, count - line0);
    const base = off + line0 * lineStride;
    if (lines === width && width === 4) {
      if (kStride === 1) {
        // Lines contiguous in k: read each line sequentially.
        const l0 = base;
        const l1 = base + lineStride;
        const l2 = base + 2 * lineStride;
        const l3 = base + 3 * lineStride;
        for (let k = 0; k < kc; k++) {
          out[o] = src[l0 + k]!;
          out[o + 1] = src[l1 + k]!;
          out[o + 2] = src[l2 + k]!;
          out[o + 3] = src[l3 + k]!;
          o += 4;
        }
      } else {
        // The four lines sit side by side: each k is one short contiguous run.
        let s = base;
        for (let k = 0; k < kc; k++) {
          out[o] = src[s]!;
          out[o + 1] = src[s + lineStride]!;
          out[o + 2] = src[s + 2 * lineStride]!;
          out[o + 3] = src[s + 3 * lineStride]!;
          o += 4;
          s += kStride;
        }
      }
    } else {
      for (let k = 0; k < kc; k++) {
        let s = base + k * kStride;
        for (let r = 0; r < width; r++) {
          out[o++] = r < lines ? src[s]! : 0;
          s += lineStride;
        }
      }
    }
  }
}

function macroKernel(
  mc: number,
  nc: number,
  kc: number,
  alpha: number,
  pa: Float64Array,
  pb: Float64Array,
  C: FloatArray,
  cOff: number,
  ldc: number,
): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = Math.min(NR, nc - jr);
    const bIdx = jr * kc; // panel jr/NR starts at (jr/NR)*NR*kc
    for (let ir = 0; ir < mc; ir += MR) {
      const mr = Math.min(MR, mc - ir);
      microKernel(kc, pa, ir * kc, pb, bIdx, alpha, C, cOff + ir * ldc + jr, ldc, mr, nr);
    }
  }
}

/** C[0:mr, 0:nr] += alpha * Apanel(MR x kc) * Bpanel(kc x NR), the tile held in sixteen locals. */
function microKernel(
  kc: number,
  pa: Float64Array,
  aIdx: number,
  pb: Float64Array,
  bIdx: number,
  alpha: number,
  C: FloatArray,
  cIdx: number,
  ldc: number,
  mr: number,
  nr: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let a = aIdx;
  let b = bIdx;
  for (let k = 0; k < kc; k++) {
    const a0 = pa[a]!, a1 = pa[a + 1]!, a2 = pa[a + 2]!, a3 = pa[a + 3]!;
    const b0 = pb[b]!, b1 = pb[b + 1]!, b2 = pb[b + 2]!, b3 = pb[b + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    a += 4;
    b += 4;
  }
  if (nr === NR) {
    // Full-width rows (the common case, also for the last, shorter row panel).
    let r = cIdx;
    C[r] += alpha * c00; C[r + 1] += alpha * c01; C[r + 2] += alpha * c02; C[r + 3] += alpha * c03;
    if (mr === 1) return;
    r += ldc;
    C[r] += alpha * c10; C[r + 1] += alpha * c11; C[r + 2] += alpha * c12; C[r + 3] += alpha * c13;
    if (mr === 2) return;
    r += ldc;
    C[r] += alpha * c20; C[r + 1] += alpha * c21; C[r + 2] += alpha * c22; C[r + 3] += alpha * c23;
    if (mr === 3) return;
    r += ldc;
    C[r] += alpha * c30; C[r + 1] += alpha * c31; C[r + 2] += alpha * c32; C[r + 3] += alpha * c33;
    return;
  }
  const t = edgeTile;
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03;
  t[4] = c10; t[5] = c11; t[6] = c12; t[7] = c13;
  t[8] = c20; t[9] = c21; t[10] = c22; t[11] = c23;
  t[12] = c30; t[13] = c31; t[14] = c32; t[15] = c33;
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) C[cIdx + i * ldc + j] += alpha * t[i * NR + j]!;
  }
}
