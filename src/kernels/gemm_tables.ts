/**
 * float32 products whose B or C is given through a table of taps rather than as a matrix: what a
 * convolution needs to skip im2col and col2im.
 *
 * - Gathered B: op(B)[k, j] = source[tap] for the tap at (k, j), or 0 where there is none (im2col's
 *   padding). The table lists the taps in the order gemm packs B (column blocks, depth blocks,
 *   8-wide panels k-major), so packing a block is one gather from the source.
 * - Scattered C: each value of C = op(A) · op(B) is added onto dst[tap] in row-major order, as
 *   col2im adds its columns back onto the image; no C matrix is written.
 *
 * Both run on gemm's SIMD engine with the same blocks and the same sums, so their results are bit
 * for bit those of gemm with the columns written out. Tables stay in the module's memory once
 * loaded (they are immutable: identity says the contents match), until their region fills up.
 */
import { roundUp, scaleC, simdEngine } from './gemm.js';

export interface GatheredB {
  readonly K: number;
  readonly N: number;
  /** Taps index [0, sourceLength); `sourceLength` itself is a zero word. */
  readonly sourceLength: number;
  readonly table: Int32Array;
}

export interface ScatteredC {
  readonly M: number;
  readonly N: number;
  /** Taps index [0, dstLength); `dstLength` itself is a word that takes what has nowhere to go. */
  readonly dstLength: number;
  readonly table: Int32Array;
}

/**
 * Tables above this many taps, and sources above this many floats, stay with the plain path (which
 * copes with any size): the module's memory never shrinks, so what it holds is bounded.
 */
const MAX_TAPS = 1 << 22;
/** Words of the region tables are kept in; when the next one does not fit, all are dropped. */
const TABLE_REGION = 2 * MAX_TAPS;

let resident = new WeakMap<Int32Array, number>();
let tablesEnd = simdEngine ? simdEngine.free : 0;

/** Where `table` is in the module's memory, loading it first if it is not there. */
function residentTable(table: Int32Array): number {
  const engine = simdEngine!;
  const at = resident.get(table);
  if (at !== undefined) return at;
  if (tablesEnd + table.length > engine.free + TABLE_REGION) {
    resident = new WeakMap();
    tablesEnd = engine.free;
  }
  const start = tablesEnd;
  engine.views(start + table.length).words.set(table, start);
  resident.set(table, start);
  tablesEnd = roundUp(start + table.length, 16);
  return start;
}

/**
 * Copies `length` floats of `data` from `off` into the module just past the resident tables, with
 * room for one more word after them (a table's "none" tap); gives where, and the memory's floats.
 * Load the call's table first: it moves the end of the tables.
 */
function stageAfterTables(data: Float32Array, off: number, length: number): { at: number; floats: Float32Array } {
  const at = roundUp(tablesEnd, 4);
  const { floats } = simdEngine!.views(at + length + 1);
  floats.set(data.subarray(off, off + length), at);
  return { at, floats };
}

/**
 * The products plain gemm would also run on the SIMD engine (below, the triple loop's results
 * differ), with a table and a source (or destination) of bounded size.
 */
function engineTakes(M: number, N: number, K: number, taps: number, sourceLength: number): boolean {
  return simdEngine !== null && M > 0 && N > 0 && K > 0 && M * N * K > simdEngine.smallWork && taps <= MAX_TAPS && sourceLength <= MAX_TAPS;
}

/** Whether gemmGathered takes an [M x K] · [K x N] product whose B gathers from `sourceLength` floats. */
export function gathersB(M: number, N: number, K: number, sourceLength: number): boolean {
  return engineTakes(M, N, K, roundUp(N, 8) * K, sourceLength);
}

/** The table for op(B)[k, j] = source[tap(k, j)], tap -1 meaning 0. Check gathersB first. */
export function planGatheredB(K: number, N: number, sourceLength: number, tap: (k: number, j: number) => number): GatheredB {
  const { blocking, balancedBlock } = simdEngine!;
  const kBlock = balancedBlock(K, blocking.kc);
  const table = new Int32Array(roundUp(N, blocking.nr) * K);
  let o = 0;
  for (let jc = 0; jc < N; jc += blocking.nc) {
    const jEnd = Math.min(N, jc + blocking.nc);
    for (let pc = 0; pc < K; pc += kBlock) {
      const kEnd = Math.min(K, pc + kBlock);
      for (let j0 = jc; j0 < jEnd; j0 += blocking.nr) {
        for (let k = pc; k < kEnd; k++) {
          for (let j = j0; j < j0 + blocking.nr; j++) {
            const t = j < jEnd ? tap(k, j) : -1;
            table[o++] = t < 0 ? sourceLength : t;
          }
        }
      }
    }
  }
  return { K, N, sourceLength, table };
}

/**
 * C[M,N] = op(A)[M,K] · B + beta * C, B = plan over `source` from `sourceOff`: gemm with alpha 1
 * (beta 0 or 1) and a gathered B. Only for products gathersB accepts.
 */
export function gemmGathered(
  transA: boolean,
  M: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  plan: GatheredB,
  source: Float32Array,
  sourceOff: number,
  beta: 0 | 1,
  C: Float32Array,
  cOff: number,
  ldc: number,
): void {
  const engine = simdEngine!;
  const { K, N, sourceLength, table } = plan;
  scaleC(M, N, beta, C, cOff, ldc);
  const tableAt = residentTable(table);
  const { at: sourceAt, floats } = stageAfterTables(source, sourceOff, sourceLength);
  floats[sourceAt + sourceLength] = 0;
  const gather = engine.kernels.gather;
  let at = tableAt;
  const packB = (_jc: number, nc: number, _pc: number, kc: number) => {
    const count = roundUp(nc, engine.blocking.nr) * kc;
    gather(engine.packedB * 4, at * 4, sourceAt * 4, count);
    at += count;
  };
  engine.product(transA, M, N, K, 1, A, aOff, lda, packB, beta, C, cOff, ldc);
}

/**
 * Whether gemmScattered takes an [M x K] · [K x N] product: as gemm computes it, in one depth block
 * and one column block, so that each block of C is final when it is scattered, in row order.
 */
export function scattersC(M: number, N: number, K: number, dstLength: number): boolean {
  return engineTakes(M, N, K, M * N, dstLength) && N <= simdEngine!.blocking.nc && K <= simdEngine!.blocking.kc;
}

/** The table for C[i, j] added onto dst[tap(i, j)], tap -1 meaning nowhere. Check scattersC first. */
export function planScatteredC(M: number, N: number, dstLength: number, tap: (i: number, j: number) => number): ScatteredC {
  const table = new Int32Array(M * N);
  for (let i = 0, o = 0; i < M; i++) {
    for (let j = 0; j < N; j++, o++) {
      const t = tap(i, j);
      table[o] = t < 0 ? dstLength : t;
    }
  }
  return { M, N, dstLength, table };
}

/**
 * dst[dstOff + tap(i, j)] += (op(A)[M,K] · op(B)[K,N])[i, j], row by row: the product gemm computes
 * (alpha 1, beta 0), then col2im. Only for products scattersC accepts.
 */
export function gemmScattered(
  transA: boolean,
  transB: boolean,
  K: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  B: Float32Array,
  bOff: number,
  ldb: number,
  plan: ScatteredC,
  dst: Float32Array,
  dstOff: number,
): void {
  const engine = simdEngine!;
  const { M, N, dstLength, table } = plan;
  const tableAt = residentTable(table);
  const { at: dstAt, floats } = stageAfterTables(dst, dstOff, dstLength);
  const scatterAdd = engine.kernels.scatterAdd;
  const storeBlock = (ic: number, mc: number, _jc: number, nc: number, ncPadded: number) =>
    scatterAdd(dstAt * 4, (tableAt + ic * N) * 4, engine.block * 4, mc, nc, ncPadded);
  engine.product(transA, M, N, K, 1, A, aOff, lda, engine.matrixPackB(transB, B, bOff, ldb), 0, dst, 0, 0, storeBlock);
  dst.set(floats.subarray(dstAt, dstAt + dstLength), dstOff);
}
