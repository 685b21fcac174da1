/**
 * The one matrix product every layer goes through:
 *
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
 *
 * Row-major with leading dimensions and offsets, as in BLAS `?gemm` (op(X) = X or Xᵀ).
 *
 * Layout follows the BLIS scheme: B is packed in KC x NC blocks of NR-wide column panels, A in
 * MC x KC blocks of MR-high row panels, both k-major so the micro-kernel reads two contiguous
 * streams, and the micro-kernel keeps an MR x NR tile of C in registers for a whole KC block.
 *
 * Two micro-kernels sit behind that one layout:
 * - float32 (A, B and C all Float32Array): a WebAssembly SIMD kernel (gemm_simd.ts) on 4x8 tiles,
 *   summing in float32 as PyTorch's float32 kernels do. Panels are packed straight into the
 *   module's memory and each block's result is added back onto C once.
 * - otherwise (float64, or no WebAssembly): a scalar kernel on 4x4 tiles held in sixteen local
 *   doubles, panels packed as float64 so the loop sees one array type.
 * K is split into equal blocks of at most KC; C is updated once per block.
 *
 * The float32 path is also the engine of gemm_tables.ts, products whose B or C is given through
 * a table of taps (a convolution's im2col columns): it exports that engine's pieces below.
 */
import { SIMD_MR, SIMD_NR, createSimdKernel } from './gemm_simd.js';
import { bufferOf } from './wasm/encoder.js';
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
  if (simd && A instanceof Float32Array && B instanceof Float32Array && C instanceof Float32Array) {
    simdGemm(transA, M, N, K, alpha, A, aOff, lda, matrixPackB(transB, B, bOff, ldb), beta, C, cOff, ldc);
    return;
  }

  const aRowStride = transA ? 1 : lda; // distance between op(A)[i,k] and op(A)[i+1,k]
  const aColStride = transA ? lda : 1; // ... and op(A)[i,k+1]
  const bRowStride = transB ? 1 : ldb; // distance between op(B)[k,j] and op(B)[k+1,j]
  const bColStride = transB ? ldb : 1; // ... and op(B)[k,j+1]

  const kBlock = balancedBlock(K, KC);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += kBlock) {
      const kc = Math.min(kBlock, K - pc);
      const bPanels = Math.ceil(nc / NR);
      if (packedB.length < bPanels * NR * kc) packedB = new Float64Array(bPanels * NR * KC);
      packPanels(B, bOff + pc * bRowStride + jc * bColStride, bRowStride, bColStride, nc, kc, NR, packedB, 0);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packPanels(A, aOff + ic * aRowStride + pc * aColStride, aColStride, aRowStride, mc, kc, MR, packedA, 0);
        macroKernel(mc, nc, kc, alpha, packedA, packedB, C, cOff + ic * ldc + jc, ldc);
      }
    }
  }
}

/** Equal blocks of at most `max` (a 260-deep product runs as 130 + 130, not 256 + 4). */
function balancedBlock(total: number, max: number): number {
  return Math.ceil(total / Math.ceil(total / max));
}

// The float32 path: blocking for the 4x8 SIMD tiles and where the panels sit in wasm memory.
const S_KC = 256;
const S_MC = 128; // multiple of SIMD_MR
const S_NC = 1024; // multiple of SIMD_NR
const S_A = 0; // float offsets into the module's memory
const S_B = S_A + S_MC * S_KC;
const S_C = S_B + S_KC * S_NC;
/** A copy of C's block, for adding a block's result onto C in the module. */
const S_C_COPY = S_C + S_MC * S_NC;
/** Where the stretch of A or B a panel block is packed from is copied, when it fits. */
const S_STAGE = S_C_COPY + S_MC * S_NC;
const STAGE_FLOATS = 1 << 20;
/** The first float past the blocks: gemm_tables.ts keeps its tables and sources from here. */
const S_FREE = S_STAGE + STAGE_FLOATS;
const simd = createSimdKernel(S_FREE * 4);
let simdFloats = simd ? new Float32Array(simd.memory.buffer) : new Float32Array(0);
let simdWords = simd ? new Int32Array(simd.memory.buffer) : new Int32Array(0);

export const roundUp = (n: number, step: number) => Math.ceil(n / step) * step;

/**
 * Blocks (and, when C's rows are apart, rows) of at least this many values are added onto C in the
 * module: below, the copies cost more.
 */
const ADD_IN_MODULE = 64;

/** Packs B's block of columns [jc, jc + nc) and depth [pc, pc + kc) at S_B. */
export type PackB = (jc: number, nc: number, pc: number, kc: number) => void;

/**
 * Takes the result of block (rows [ic, ic + mc), columns [jc, jc + nc)) from S_C, rows ncPadded
 * floats apart, instead of simdGemm writing it to C.
 */
export type StoreBlock = (ic: number, mc: number, jc: number, nc: number, ncPadded: number) => void;

/** Packs B's blocks from the matrix op(B) at `bOff` (the usual case). */
function matrixPackB(transB: boolean, B: Float32Array, bOff: number, ldb: number): PackB {
  const bRowStride = transB ? 1 : ldb;
  const bColStride = transB ? ldb : 1;
  return (jc, nc, pc, kc) => packInModule(B, bOff + pc * bRowStride + jc * bColStride, bRowStride, bColStride, nc, kc, SIMD_NR, S_B);
}

/** Blocks of fewer values are packed by packPanels in JavaScript: below, the staging copy costs more. */
const PACK_IN_MODULE = 256;

/**
 * packPanels into the module's memory at `outAt`, done by the module: the stretch of `src` the
 * block reads (its first to its last value, gaps included) is copied in whole, then packed there at
 * WebAssembly speed (a JavaScript loop costs 3-4 ns a value on the machines measured). Small blocks,
 * and stretches longer than the staging area, stay with packPanels.
 */
function packInModule(
  src: Float32Array,
  off: number,
  kStride: number,
  lineStride: number,
  count: number,
  kc: number,
  width: number,
  outAt: number,
): void {
  const span = (count - 1) * lineStride + (kc - 1) * kStride + 1;
  if (count * kc < PACK_IN_MODULE || span > STAGE_FLOATS) {
    packPanels(src, off, kStride, lineStride, count, kc, width, simdFloats, outAt);
    return;
  }
  simdFloats.set(src.subarray(off, off + span), S_STAGE);
  simd!.pack(outAt * 4, S_STAGE * 4, kStride, lineStride, count, kc, width);
}

/** The SIMD engine's pieces for gemm_tables.ts: null where there is no WebAssembly SIMD. */
export const simdEngine = simd && {
  kernels: simd,
  /** Float offsets of the packed B panel block, the result block, and the first free float. */
  packedB: S_B,
  block: S_C,
  free: S_FREE,
  blocking: { kc: S_KC, nc: S_NC, nr: SIMD_NR },
  smallWork: SMALL_WORK,
  balancedBlock,
  /** The module's memory as floats and as words, grown first to hold `floats` floats. */
  views(floats: number): { floats: Float32Array; words: Int32Array } {
    const buffer = bufferOf(simd.memory, floats * 4);
    if (buffer !== simdFloats.buffer) {
      simdFloats = new Float32Array(buffer);
      simdWords = new Int32Array(buffer);
    }
    return { floats: simdFloats, words: simdWords };
  },
  product: simdGemm,
  matrixPackB,
};

function simdGemm(
  transA: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  packB: PackB,
  beta: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
  storeBlock: StoreBlock | null = null,
): void {
  const kernel = simd!.kernel;
  const mem = simdFloats;
  const aRowStride = transA ? 1 : lda;
  const aColStride = transA ? lda : 1;
  const kBlock = balancedBlock(K, S_KC);
  for (let jc = 0; jc < N; jc += S_NC) {
    const nc = Math.min(S_NC, N - jc);
    const ncPadded = roundUp(nc, SIMD_NR);
    for (let pc = 0; pc < K; pc += kBlock) {
      const kc = Math.min(kBlock, K - pc);
      packB(jc, nc, pc, kc);
      for (let ic = 0; ic < M; ic += S_MC) {
        const mc = Math.min(S_MC, M - ic);
        packInModule(A, aOff + ic * aRowStride + pc * aColStride, aColStride, aRowStride, mc, kc, SIMD_MR, S_A);
        kernel(roundUp(mc, SIMD_MR), ncPadded, kc, S_A * 4, S_B * 4, S_C * 4);
        if (storeBlock) {
          storeBlock(ic, mc, jc, nc, ncPadded);
          continue;
        }
        // C was cleared when beta = 0: the first block's result can then be copied, not added.
        const copy = beta === 0 && pc === 0 && alpha === 1;
        if (!copy && alpha === 1 && mc * nc >= ADD_IN_MODULE && (ldc === nc || nc >= ADD_IN_MODULE)) {
          // Add the block in the module, float32 adds as C[i] += r rounds them, between two copies
          // of C's block instead of a JavaScript loop over every value: one copy each way when
          // its rows are adjacent in C, else one a row (worth it for rows this long).
          const to = cOff + ic * ldc + jc;
          if (ldc === nc) mem.set(C.subarray(to, to + mc * nc), S_C_COPY);
          else for (let i = 0; i < mc; i++) mem.set(C.subarray(to + i * ldc, to + i * ldc + nc), S_C_COPY + i * nc);
          simd!.addRows(S_C_COPY * 4, S_C * 4, mc, nc, ncPadded);
          if (ldc === nc) C.set(mem.subarray(S_C_COPY, S_C_COPY + mc * nc), to);
          else for (let i = 0; i < mc; i++) C.set(mem.subarray(S_C_COPY + i * nc, S_C_COPY + (i + 1) * nc), to + i * ldc);
          continue;
        }
        for (let i = 0; i < mc; i++) {
          const from = S_C + i * ncPadded;
          const to = cOff + (ic + i) * ldc + jc;
          if (copy) C.set(mem.subarray(from, from + nc), to);
          else if (alpha === 1) for (let j = 0; j < nc; j++) C[to + j] += mem[from + j]!;
          else for (let j = 0; j < nc; j++) C[to + j] += alpha * mem[from + j]!;
        }
      }
    }
  }
}

/** C = beta * C, with beta = 0 clearing C without reading it (NaN in C does not survive, as in BLAS). */
export function scaleC(M: number, N: number, beta: number, C: FloatArray, cOff: number, ldc: number): void {
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
 * lines, k-major within a panel:
 *   out[outOff + p*width*kc + k*width + r] = src[off + (p*width + r)*lineStride + k*kStride].
 * The last panel is padded with zeros so the micro-kernel never needs a bounds test.
 * The unrolled branches repeat one another on purpose: each is the plain loop for one common layout.
 */
function packPanels(
  src: FloatArray,
  off: number,
  kStride: number,
  lineStride: number,
  count: number,
  kc: number,
  width: number,
  out: FloatArray,
  outOff: number,
): void {
  let o = outOff;
  for (let line0 = 0; line0 < count; line0 += width) {
    const lines = Math.min(width, count - line0);
    const base = off + line0 * lineStride;
    if (kStride === 1 && lines === 8) {
      // Each line is contiguous in k: walk the eight lines together, writing one contiguous row per k.
      const l0 = base, l1 = l0 + lineStride, l2 = l1 + lineStride, l3 = l2 + lineStride;
      const l4 = l3 + lineStride, l5 = l4 + lineStride, l6 = l5 + lineStride, l7 = l6 + lineStride;
      for (let k = 0, d = o; k < kc; k++, d += 8) {
        out[d] = src[l0 + k]!; out[d + 1] = src[l1 + k]!; out[d + 2] = src[l2 + k]!; out[d + 3] = src[l3 + k]!;
        out[d + 4] = src[l4 + k]!; out[d + 5] = src[l5 + k]!; out[d + 6] = src[l6 + k]!; out[d + 7] = src[l7 + k]!;
      }
    } else if (kStride === 1 && lines === 4 && width === 4) {
      const l0 = base, l1 = l0 + lineStride, l2 = l1 + lineStride, l3 = l2 + lineStride;
      for (let k = 0, d = o; k < kc; k++, d += 4) {
        out[d] = src[l0 + k]!; out[d + 1] = src[l1 + k]!; out[d + 2] = src[l2 + k]!; out[d + 3] = src[l3 + k]!;
      }
    } else if (kStride === 1) {
      // Each line is contiguous in k: read it sequentially, write with stride `width`.
      for (let r = 0; r < lines; r++) {
        const s = base + r * lineStride;
        for (let k = 0, d = o + r; k < kc; k++, d += width) out[d] = src[s + k]!;
      }
    } else if (lineStride === 1 && lines === 8) {
      // The lines sit side by side: each k is one contiguous run of values.
      for (let k = 0, s = base, d = o; k < kc; k++, s += kStride, d += 8) {
        out[d] = src[s]!; out[d + 1] = src[s + 1]!; out[d + 2] = src[s + 2]!; out[d + 3] = src[s + 3]!;
        out[d + 4] = src[s + 4]!; out[d + 5] = src[s + 5]!; out[d + 6] = src[s + 6]!; out[d + 7] = src[s + 7]!;
      }
    } else if (lineStride === 1 && lines === 4 && width === 4) {
      for (let k = 0, s = base, d = o; k < kc; k++, s += kStride, d += 4) {
        out[d] = src[s]!; out[d + 1] = src[s + 1]!; out[d + 2] = src[s + 2]!; out[d + 3] = src[s + 3]!;
      }
    } else if (lineStride === 1) {
      for (let k = 0, s = base, d = o; k < kc; k++, s += kStride, d += width) {
        for (let r = 0; r < lines; r++) out[d + r] = src[s + r]!;
      }
    } else {
      for (let k = 0, s = base, d = o; k < kc; k++, s += kStride, d += width) {
        for (let r = 0; r < lines; r++) out[d + r] = src[s + r * lineStride]!;
      }
    }
    if (lines < width) {
      for (let k = 0, d = o; k < kc; k++, d += width) for (let r = lines; r < width; r++) out[d + r] = 0;
    }
    o += width * kc;
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
