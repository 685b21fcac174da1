/**
 * The float32 micro-kernels of `gemm` as a small WebAssembly SIMD module, generated here as bytes
 * (no toolchain, nothing fetched). One exported function computes a whole packed block:
 *
 *   kernel(mc, nc, kc, aPtr, bPtr, cPtr):  Cblk[mc x nc] = Apacked[mc x kc] · Bpacked[kc x nc]
 *
 * with A packed in 4-row panels and B in 8-column panels, both k-major (see gemm.ts), mc a
 * multiple of 4, nc a multiple of 8, and Cblk row-major with row length nc. Each 4x8 tile lives in
 * eight f32x4 accumulators for the whole k loop; products are summed in float32 in k order.
 */

import {
  add, and, Body, block, br, brIf, end, ifThen, f32Add, f32Load, f32Store, geS, geU, get, gtS, I32, i32, i32Load, i32s, i32Store, instantiateKernel, leS, loop, mul, set, shl, sub, tee, unsignedLeb, V128,
  f32x4Add, f32x4Mul, v128Load, v128Load32Splat, v128Store, v128Zero, webAssembly,
} from './wasm/encoder.js';

export const SIMD_MR = 4;
export const SIMD_NR = 8;

export interface SimdKernel {
  /** Byte offsets are into `memory`. */
  kernel(mc: number, nc: number, kc: number, aPtr: number, bPtr: number, cPtr: number): void;
  /**
   * gather(dst, table, src, count): the 32-bit word src[table[i]] to dst[i] for i < count, a
   * multiple of 8 (`table` holds word indices). Packs an operand whose entries are taps of a
   * source, such as im2col's columns, without writing the columns out first.
   */
  gather(dst: number, table: number, src: number, count: number): void;
  /**
   * addRows(dst, src, rows, cols, srcRow): dst[r*cols + c] += src[r*srcRow + c], float32 adds, for
   * r < rows and c < cols (dst rows packed, src rows `srcRow` floats apart): a block's result
   * added back onto a copy of C.
   */
  addRows(dst: number, src: number, rows: number, cols: number, srcRow: number): void;
  /**
   * scatterAdd(dst, table, src, rows, cols, srcRow): dst[table[r*cols + c]] += src[r*srcRow + c],
   * float32 adds in row-major order (table holds word indices): col2im from a block of columns.
   */
  scatterAdd(dst: number, table: number, src: number, rows: number, cols: number, srcRow: number): void;
  /**
   * pack(dst, src, kStride, lineStride, count, kc, width): gemm's packPanels in the module, from a
   * source staged in its memory (strides in floats): dst[p*width*kc + k*width + r] =
   * src[(p*width + r)*lineStride + k*kStride], the last panel padded with +0.
   */
  pack(dst: number, src: number, kStride: number, lineStride: number, count: number, kc: number, width: number): void;
  readonly memory: WebAssembly.Memory;
}

/** GATHER_UNROLL words a trip: the packed panels are 8 wide. */
const GATHER_UNROLL = 8;

function gatherBody(): number[] {
  const [dst, table, src, count] = [0, 1, 2, 3];
  const code: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) code.push(...p);
  };
  emit(block, get(count), i32(0), leS, brIf(0), loop); // count <= 0: nothing to do
  for (let u = 0; u < GATHER_UNROLL; u++) {
    // Words, not floats: every bit pattern (NaN payloads, -0) arrives as it left.
    emit(get(dst), get(src), get(table), i32Load(4 * u), i32(2), shl, add, i32Load(0), i32Store(4 * u));
  }
  emit(get(dst), i32(4 * GATHER_UNROLL), add, set(dst), get(table), i32(4 * GATHER_UNROLL), add, set(table));
  emit(get(count), i32(GATHER_UNROLL), sub, tee(count), i32(0), gtS, brIf(0), end, end); // while count > 0
  return [0, ...code, ...end];
}

// The panels and the C block sit at 16-byte aligned offsets (gemm.ts): vector loads and stores carry that hint.
const load = (offset: number) => v128Load(offset, 4);
const store = (offset: number) => v128Store(offset, 4);

function kernelBody(): number[] {
  // Parameters 0-5, then i32 locals 6-11, then v128 locals 12-22.
  const [mc, nc, kc, aPtr, bPtr, cPtr, jr, ir, k, a, b, c] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const acc = (i: number) => 12 + i;
  const [b0, b1, av] = [20, 21, 22];
  const code: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) code.push(...p);
  };
  emit(i32(0), set(jr));
  emit(block, loop); // over 8-column panels
  emit(get(jr), get(nc), geU, brIf(1));
  emit(i32(0), set(ir));
  emit(block, loop); // over 4-row panels
  emit(get(ir), get(mc), geU, brIf(1));
  for (let t = 0; t < 8; t++) emit(v128Zero, set(acc(t)));
  emit(get(aPtr), get(ir), get(kc), mul, i32(2), shl, add, set(a)); // panel ir/4 starts at ir*kc floats
  emit(get(bPtr), get(jr), get(kc), mul, i32(2), shl, add, set(b));
  emit(get(kc), set(k));
  emit(loop); // over k: one 8-wide row of B, four splatted values of A
  emit(get(b), load(0), set(b0));
  emit(get(b), load(16), set(b1));
  for (let r = 0; r < 4; r++) {
    emit(get(a), v128Load32Splat(4 * r), set(av));
    emit(get(acc(2 * r)), get(av), get(b0), f32x4Mul, f32x4Add, set(acc(2 * r)));
    emit(get(acc(2 * r + 1)), get(av), get(b1), f32x4Mul, f32x4Add, set(acc(2 * r + 1)));
  }
  emit(get(a), i32(16), add, set(a));
  emit(get(b), i32(32), add, set(b));
  emit(get(k), i32(1), sub, tee(k), brIf(0));
  emit(end);
  emit(get(cPtr), get(ir), get(nc), mul, get(jr), add, i32(2), shl, add, set(c));
  for (let r = 0; r < 4; r++) {
    emit(get(c), get(acc(2 * r)), store(0));
    emit(get(c), get(acc(2 * r + 1)), store(16));
    if (r < 3) emit(get(c), get(nc), i32(2), shl, add, set(c));
  }
  emit(get(ir), i32(4), add, set(ir), br(0));
  emit(end, end);
  emit(get(jr), i32(8), add, set(jr), br(0));
  emit(end, end);
  emit(end);
  const locals = [2, ...unsignedLeb(6), I32, ...unsignedLeb(11), V128];
  return [...locals, ...code];
}

function addRowsBody(): number[] {
  const [dst, src, rows, cols, srcRow] = [0, 1, 2, 3, 4];
  const b = new Body(5);
  const row = b.local(I32);
  const col = b.local(I32);
  const vectorCols = b.local(I32);
  const from = b.local(I32);
  const to = b.local(I32);
  b.emit(get(cols), i32(-4), and, set(vectorCols), i32(0), set(row));
  b.forLess(row, rows, () => {
    b.emit(get(src), get(row), get(srcRow), mul, i32(2), shl, add, set(from));
    b.emit(get(dst), get(row), get(cols), mul, i32(2), shl, add, set(to));
    b.emit(i32(0), set(col));
    b.emit(block, loop, get(col), get(vectorCols), geS, brIf(1));
    b.emit(get(to), get(col), i32(2), shl, add);
    b.emit(get(to), get(col), i32(2), shl, add, v128Load(0));
    b.emit(get(from), get(col), i32(2), shl, add, v128Load(0), f32x4Add, v128Store(0));
    b.emit(get(col), i32(4), add, set(col), br(0), end, end);
    b.forLess(col, cols, () => {
      b.emit(get(to), get(col), i32(2), shl, add);
      b.emit(get(to), get(col), i32(2), shl, add, f32Load(0));
      b.emit(get(from), get(col), i32(2), shl, add, f32Load(0), f32Add, f32Store);
    });
  });
  return b.bytes();
}

function scatterAddBody(): number[] {
  const [dst, table, src, rows, cols, srcRow] = [0, 1, 2, 3, 4, 5];
  const b = new Body(6);
  const row = b.local(I32);
  const col = b.local(I32);
  const from = b.local(I32);
  const tap = b.local(I32);
  b.emit(i32(0), set(row));
  b.forLess(row, rows, () => {
    b.emit(get(src), get(row), get(srcRow), mul, i32(2), shl, add, set(from), i32(0), set(col));
    b.forLess(col, cols, () => {
      b.emit(get(dst), get(table), i32Load(0), i32(2), shl, add, tee(tap));
      b.emit(get(tap), f32Load(0), get(from), f32Load(0), f32Add, f32Store);
      b.emit(get(table), i32(4), add, set(table), get(from), i32(4), add, set(from));
    });
  });
  return b.bytes();
}

function packBody(): number[] {
  const [dst, src, kStride, lineStride, count, kc, width] = [0, 1, 2, 3, 4, 5, 6];
  const b = new Body(7);
  const line0 = b.local(I32);
  const lines = b.local(I32);
  const k = b.local(I32);
  const r = b.local(I32);
  const from = b.local(I32);
  const lineBytes = b.local(I32);
  b.emit(get(lineStride), i32(2), shl, set(lineBytes), i32(0), set(line0));
  b.emit(block, loop, get(line0), get(count), geS, brIf(1));
  b.emit(get(count), get(line0), sub, tee(lines), get(width), gtS, ifThen, get(width), set(lines), end);
  b.emit(i32(0), set(k));
  b.forLess(k, kc, () => {
    b.emit(get(src), get(line0), get(lineStride), mul, get(k), get(kStride), mul, add, i32(2), shl, add, set(from));
    b.emit(i32(0), set(r));
    b.forLess(r, lines, () => {
      // Words, not floats: every bit pattern arrives as it left.
      b.emit(get(dst), get(from), i32Load(0), i32Store(0));
      b.emit(get(dst), i32(4), add, set(dst), get(from), get(lineBytes), add, set(from));
    });
    b.forLess(r, width, () => b.emit(get(dst), i32(0), i32Store(0), get(dst), i32(4), add, set(dst)));
  });
  b.emit(get(line0), get(width), add, set(line0), br(0), end, end);
  return b.bytes();
}

/**
 * Instantiates the kernel over a fresh memory of `bytes` bytes, or returns null where WebAssembly
 * SIMD is unavailable (the scalar gemm then does all the work).
 */
export function createSimdKernel(bytes: number): SimdKernel | null {
  try {
    const wasm = webAssembly();
    if (!wasm) return null;
    const memory = new wasm.Memory({ initial: Math.ceil(bytes / 65536) });
    const kernel = instantiateKernel<SimdKernel['kernel']>(wasm, i32s(6), kernelBody(), memory);
    const gather = instantiateKernel<SimdKernel['gather']>(wasm, i32s(4), gatherBody(), memory);
    const addRows = instantiateKernel<SimdKernel['addRows']>(wasm, i32s(5), addRowsBody(), memory);
    const scatterAdd = instantiateKernel<SimdKernel['scatterAdd']>(wasm, i32s(6), scatterAddBody(), memory);
    const pack = instantiateKernel<SimdKernel['pack']>(wasm, i32s(7), packBody(), memory);
    if (!kernel || !gather || !addRows || !scatterAdd || !pack) return null;
    return { kernel, gather, addRows, scatterAdd, pack, memory };
  } catch {
    return null;
  }
}
