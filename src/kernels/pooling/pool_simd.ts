/**
 * The float32 2d pools as WebAssembly SIMD kernels, generated here as bytes (no toolchain, nothing
 * fetched). JavaScript has no float32 arithmetic and no branch-free select: each float32 add is a
 * double add and two conversions, and a max that keeps its index branches on the data, which
 * random inputs mispredict. f32x4 adds round to float32 themselves, and a max is a few compares
 * and selects per tap for four windows at once.
 *
 * A block of planes is copied into the module's memory with the padding around each plane made
 * real: +0 for sums, -inf for maxima. Every window then reads whole kernel rows, four neighbouring
 * windows per vector, and the results are exactly those of the scalar loops:
 *
 * - `sums`: taps added in row-major order from +0. A padding +0 changes no sum (a sum started at
 *   +0 is never -0), so the clipped windows sum what they sum in ATen; each window is then divided
 *   by its own divisor, a row factor times a column factor (f32x4.div is float32 division).
 * - `max`: a tap wins when it is greater or NaN (`f32x4.gt | f32x4.ne(v, v)`), the scalar rule,
 *   so ties keep the first and the last NaN wins. A -inf of the padding never wins, except in a
 *   window that is all -inf, whose index ATen puts on its first in-bounds tap: windowMax leaves
 *   those few to the caller.
 * - `rowMeans`: a mean over each contiguous row in the order of ATen's 8-lane vectorised sum.
 *
 * A row of outputs that is not a multiple of four ends with a vector that overlaps the one before
 * it: the overlapped windows are computed twice, with the same result.
 */
import type { PoolDim } from './geometry.js';
import {
  add, block, brIf, Body, bufferOf, end, F32, f32Add, f32ConvertI32, f32Div, f32Load, f32Store, f32x4Add, f32x4Div,
  f32x4ExtractLane, f32x4Gt, f32x4Mul, f32x4Ne, f32x4Splat, f32Zero, get, gtS, I32, i32, i32s, i32x4Add, i32x4Mul, i32x4Splat,
  ifThen, instantiateKernel, loop, ltS, memoryCopy, mul, set, shl, shrU, simd, sub, tee, V128, v128Bitselect, v128Const, v128Load,
  v128Load32Lane, v128Load32Zero, v128Or, v128Store, v128Zero, webAssembly,
} from '../wasm/encoder.js';
import { pages, STAGING_SLACK, stagingAddress } from '../wasm/staging.js';

/** A 2d pool in elements: the input and output planes, the window, and the padded plane the kernels read. */
export interface Pool2d {
  readonly inH: number;
  readonly inW: number;
  readonly outH: number;
  readonly outW: number;
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padTop: number;
  readonly padLeft: number;
  /** The input with `padTop` / `padLeft` cells before it and enough after for the last windows. */
  readonly paddedH: number;
  readonly paddedW: number;
}

/** The pool of these dims (height, then width) without dilation. */
export function pool2d(height: PoolDim, width: PoolDim): Pool2d {
  // The last window may hang past the padding in ceil mode: pad up to its end.
  const after = (d: PoolDim) => Math.max(d.padding, (d.out - 1) * d.stride - d.padding + d.kernel - d.size);
  return {
    inH: height.size,
    inW: width.size,
    outH: height.out,
    outW: width.out,
    kernelH: height.kernel,
    kernelW: width.kernel,
    strideH: height.stride,
    strideW: width.stride,
    padTop: height.padding,
    padLeft: width.padding,
    paddedH: height.padding + height.size + after(height),
    paddedW: width.padding + width.size + after(width),
  };
}

/** Lanes 0 and 2 of the first vector, then of the second: the even floats of eight. */
const evenFloats = simd(0x0d, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);

/** How four windows' taps are read: their columns are `stride` apart. */
type StrideKind = 'unit' | 'two' | 'any';

const strideKind = (stride: number): StrideKind => (stride === 1 ? 'unit' : stride === 2 ? 'two' : 'any');

/*
 * The parameters both window kernels start with, all i32: byte addresses of the padded source and
 * output blocks, the number of planes, and the sizes (Pool2d, in elements). `sums` adds the byte
 * addresses of its divisor tables and a flag (0: leave the sums undivided); `max` the input width,
 * the padding before the input and the byte address of the indices block.
 */
const P = {
  src: 0,
  dst: 1,
  planes: 2,
  paddedPlane: 3,
  paddedW: 4,
  outPlane: 5,
  outH: 6,
  outW: 7,
  strideH: 8,
  strideW: 9,
} as const;
const SHARED_PARAMS = 10;

/** Where the taps of the current four windows are: one local per kernel row, plus lane offsets for any stride. */
interface Taps {
  readonly rows: readonly number[];
  /** Byte offsets of lanes 1-3 from lane 0 (stride above 2 only). */
  readonly lanes: readonly number[];
  readonly scratch: number;
}

/** What the loops hand each vector of four windows: output row and column, the output's byte address. */
interface Vector {
  readonly oh: number;
  readonly ow: number;
  readonly out: number;
}

/**
 * The loops over planes, output rows and vectors of four windows. Per vector they point the
 * kernel-row locals of `taps` at the windows' first row and call `window`. The last vector of a
 * row moves back to end at the row's end.
 */
function emitWindowLoops(b: Body, kernelH: number, kind: StrideKind, window: (taps: Taps, at: Vector) => void): void {
  const plane = b.local(I32);
  const oh = b.local(I32);
  const ow = b.local(I32);
  const lastOw = b.local(I32);
  const planeSrc = b.local(I32);
  const planeDst = b.local(I32);
  const rowSrc = b.local(I32);
  const out = b.local(I32);
  const rowBytes = b.local(I32);
  const taps: Taps = {
    rows: Array.from({ length: kernelH }, () => b.local(I32)),
    lanes: kind === 'any' ? [b.local(I32), b.local(I32), b.local(I32)] : [],
    scratch: b.local(V128),
  };
  b.emit(get(P.paddedW), i32(2), shl, set(rowBytes));
  taps.lanes.forEach((lane, i) => b.emit(get(P.strideW), i32(4 * (i + 1)), mul, set(lane)));
  b.emit(get(P.outW), i32(4), sub, set(lastOw));
  b.emit(get(P.src), set(planeSrc), get(P.dst), set(planeDst));
  b.emit(i32(0), set(plane));
  b.forLess(plane, P.planes, () => {
    b.emit(get(planeSrc), set(rowSrc), i32(0), set(oh));
    b.forLess(oh, P.outH, () => {
      b.emit(i32(0), set(ow));
      b.emit(block, loop);
      b.emit(get(ow), get(lastOw), gtS, ifThen, get(lastOw), set(ow), end);
      // The windows' first row starts at rowSrc + 4 * ow * strideW; out = planeDst + 4 * (oh * outW + ow).
      b.emit(get(rowSrc), get(ow), get(P.strideW), mul, i32(2), shl, add, set(taps.rows[0]!));
      for (let kh = 1; kh < kernelH; kh++) b.emit(get(taps.rows[kh - 1]!), get(rowBytes), add, set(taps.rows[kh]!));
      b.emit(get(planeDst), get(oh), get(P.outW), mul, get(ow), add, i32(2), shl, add, set(out));
      window(taps, { oh, ow, out });
      b.emit(get(ow), i32(4), add, tee(ow), get(P.outW), ltS, brIf(0), end, end);
      b.emit(get(rowSrc), get(P.strideH), get(rowBytes), mul, add, set(rowSrc));
    });
    b.emit(get(planeSrc), get(P.paddedPlane), i32(2), shl, add, set(planeSrc));
    b.emit(get(planeDst), get(P.outPlane), i32(2), shl, add, set(planeDst));
  });
}

/**
 * Pushes tap (kh, kw) of the four windows: one load for stride 1, two loads and a shuffle for
 * stride 2, lane by lane otherwise (load32_lane wants its address below the vector, so the vector
 * waits in the scratch local).
 */
function emitTap(b: Body, kind: StrideKind, taps: Taps, kh: number, kw: number): void {
  const row = taps.rows[kh]!;
  const offset = 4 * kw;
  if (kind === 'unit') {
    b.emit(get(row), v128Load(offset));
  } else if (kind === 'two') {
    b.emit(get(row), v128Load(offset), get(row), v128Load(offset + 16), evenFloats);
  } else {
    b.emit(get(row), v128Load32Zero(offset), set(taps.scratch));
    taps.lanes.forEach((lane, i) => b.emit(get(row), get(lane), add, get(taps.scratch), v128Load32Lane(offset, i + 1), set(taps.scratch)));
    b.emit(get(taps.scratch));
  }
}

/**
 * sums(shared..., rowDivisors, colDivisors, divide): the taps added in row-major order from +0,
 * then, unless `divide` is 0, divided by rowDivisors[oh] * colDivisors[ow] (float32 tables whose
 * products are exact integers).
 */
function sumsBody(kernelH: number, kernelW: number, kind: StrideKind): number[] {
  const [rowDivisors, colDivisors, divide] = [SHARED_PARAMS, SHARED_PARAMS + 1, SHARED_PARAMS + 2];
  const b = new Body(SHARED_PARAMS + 3);
  const sum = b.local(V128);
  emitWindowLoops(b, kernelH, kind, (taps, { oh, ow, out }) => {
    b.emit(v128Zero);
    for (let kh = 0; kh < kernelH; kh++) {
      for (let kw = 0; kw < kernelW; kw++) {
        emitTap(b, kind, taps, kh, kw);
        b.emit(f32x4Add);
      }
    }
    b.emit(set(sum), get(divide), ifThen);
    b.emit(get(sum), get(rowDivisors), get(oh), i32(2), shl, add, f32Load(0), f32x4Splat);
    b.emit(get(colDivisors), get(ow), i32(2), shl, add, v128Load(0), f32x4Mul, f32x4Div, set(sum), end);
    b.emit(get(out), get(sum), v128Store(0));
  });
  return b.bytes();
}

/**
 * max(shared..., inW, padTop, padLeft, indices): window maxima, and at `indices` their positions
 * in the unpadded plane. Picking "the later one if it is greater or NaN" from two runs of taps, the
 * earlier run first, gives what one scan of both gives (the last NaN if there is one, else the
 * first of the maxima), so the taps are paired off in a tree: the same result, with a shorter
 * chain of dependent compares than a scan.
 */
function maxBody(kernelH: number, kernelW: number, kind: StrideKind): number[] {
  const [inW, padTop, padLeft, indices] = [SHARED_PARAMS, SHARED_PARAMS + 1, SHARED_PARAMS + 2, SHARED_PARAMS + 3];
  const b = new Body(SHARED_PARAMS + 4);
  const taken = b.local(V128);
  const laneCells = b.local(V128);
  const taps = kernelH * kernelW;
  const tapCells = Array.from({ length: taps }, () => b.local(V128));
  const values = Array.from({ length: taps }, () => b.local(V128));
  const cells = Array.from({ length: taps }, () => b.local(V128));
  // Each tap's cell relative to its window, and each lane's window relative to the first (in input cells).
  for (let kh = 0; kh < kernelH; kh++) {
    for (let kw = 0; kw < kernelW; kw++) b.emit(get(inW), i32(kh), mul, i32(kw), add, i32x4Splat, set(tapCells[kh * kernelW + kw]!));
  }
  b.emit(get(P.strideW), i32x4Splat, v128Const([0, 1, 2, 3]), i32x4Mul, set(laneCells));
  emitWindowLoops(b, kernelH, kind, (tapRows, { oh, ow, out }) => {
    for (let t = 0; t < taps; t++) {
      emitTap(b, kind, tapRows, Math.floor(t / kernelW), t % kernelW);
      b.emit(set(values[t]!));
    }
    let runs = values.map((value, t) => ({ value, cell: tapCells[t]! }));
    let fresh = 0;
    while (runs.length > 1) {
      const next: { value: number; cell: number }[] = [];
      for (let i = 0; i + 1 < runs.length; i += 2) {
        const [earlier, later] = [runs[i]!, runs[i + 1]!];
        const cell = cells[fresh++]!;
        b.emit(get(later.value), get(earlier.value), f32x4Gt, get(later.value), get(later.value), f32x4Ne, v128Or, set(taken));
        b.emit(get(later.value), get(earlier.value), get(taken), v128Bitselect, set(earlier.value));
        b.emit(get(later.cell), get(earlier.cell), get(taken), v128Bitselect, set(cell));
        next.push({ value: earlier.value, cell });
      }
      if (runs.length % 2 === 1) next.push(runs[runs.length - 1]!);
      runs = next;
    }
    const best = runs[0]!;
    b.emit(get(out), get(best.value), v128Store(0));
    // indices, at the output's offset: the window's first cell (oh*sH - padTop) * inW + ow*sW - padLeft,
    // plus lane * strideW, plus the winning tap's cell.
    b.emit(get(out), get(P.dst), sub, get(indices), add);
    b.emit(get(oh), get(P.strideH), mul, get(padTop), sub, get(inW), mul, get(ow), get(P.strideW), mul, add, get(padLeft), sub);
    b.emit(i32x4Splat, get(laneCells), i32x4Add, get(best.cell), i32x4Add, v128Store(0));
  });
  return b.bytes();
}

/**
 * padRows(staging, padded, planes, inH, inW, paddedPlane, paddedW, first): copies each row of
 * the unpadded planes at `staging` into the padded planes at `padded`, the first row's first cell
 * landing `first` cells into its padded plane.
 */
function padRowsBody(): number[] {
  const [staging, padded, planes, inH, inW, paddedPlane, paddedW, first] = [0, 1, 2, 3, 4, 5, 6, 7];
  const b = new Body(8);
  const plane = b.local(I32);
  const row = b.local(I32);
  const from = b.local(I32);
  const to = b.local(I32);
  b.emit(get(staging), set(from), i32(0), set(plane));
  b.forLess(plane, planes, () => {
    b.emit(get(padded), get(plane), get(paddedPlane), mul, get(first), add, i32(2), shl, add, set(to), i32(0), set(row));
    b.forLess(row, inH, () => {
      b.emit(get(to), get(from), get(inW), i32(2), shl, memoryCopy);
      b.emit(get(from), get(inW), i32(2), shl, add, set(from));
      b.emit(get(to), get(paddedW), i32(2), shl, add, set(to));
    });
  });
  return b.bytes();
}

/**
 * padRowsDivided(staging, padded, planes, inH, inW, paddedPlane, paddedW, first, rowDivisors,
 * colDivisors): as padRows, each cell divided by rowDivisors[r] * colDivisors[c] on the way
 * (float32 tables whose products are exact integers). `inW` must be at least 4.
 */
function padRowsDividedBody(): number[] {
  const [staging, padded, planes, inH, inW, paddedPlane, paddedW, first, rowDivisors, colDivisors] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const b = new Body(10);
  const plane = b.local(I32);
  const row = b.local(I32);
  const col = b.local(I32);
  const lastCol = b.local(I32);
  const from = b.local(I32);
  const to = b.local(I32);
  const rowDivisor = b.local(V128);
  b.emit(get(inW), i32(4), sub, set(lastCol));
  b.emit(get(staging), set(from), i32(0), set(plane));
  b.forLess(plane, planes, () => {
    b.emit(get(padded), get(plane), get(paddedPlane), mul, get(first), add, i32(2), shl, add, set(to), i32(0), set(row));
    b.forLess(row, inH, () => {
      b.emit(get(rowDivisors), get(row), i32(2), shl, add, f32Load(0), f32x4Splat, set(rowDivisor));
      b.emit(i32(0), set(col), block, loop);
      // The last vector moves back to end at the row's end (the copy is out of place, so that is harmless).
      b.emit(get(col), get(lastCol), gtS, ifThen, get(lastCol), set(col), end);
      b.emit(get(to), get(col), i32(2), shl, add);
      b.emit(get(from), get(col), i32(2), shl, add, v128Load(0));
      b.emit(get(rowDivisor), get(colDivisors), get(col), i32(2), shl, add, v128Load(0), f32x4Mul, f32x4Div, v128Store(0));
      b.emit(get(col), i32(4), add, tee(col), get(inW), ltS, brIf(0), end, end);
      b.emit(get(from), get(inW), i32(2), shl, add, set(from));
      b.emit(get(to), get(paddedW), i32(2), shl, add, set(to));
    });
  });
  return b.bytes();
}

/** Picks float lanes of two vectors (0-3 the first, 4-7 the second) with i8x16.shuffle. */
const shuffleFloats = (...lanes: number[]) => simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));

/**
 * rowMeans(src, dst, rows, scratch): the mean of each row of `length` floats, summed as ATen's
 * vectorised inner sum over 8 lanes (two f32x4 here): the tail past the last whole vector first,
 * then per lane four partial sums over groups of four vectors (plain running sums, as ATen's
 * cascade is below 16 groups), the leftover vectors into the first, each lane's
 * ((p0 + p1) + p2) + p3, and the lanes in order. Unrolled for one `length`, at least 8 and below 512.
 *
 * Two passes, so that the serial part does not hold up the parallel one: the first writes each
 * row's eight lane sums to `scratch` (32 bytes a row), rows independent of each other; the second
 * takes rows four at a time, transposes their lane sums so that the serial part (tail, then lane 0,
 * lane 1, ...) runs in f32x4 adds, each lane of the vector one row's sum in that row's order. Rows
 * left over take the same steps one at a time.
 */
function rowMeansBody(length: number): number[] {
  const [src, dst, rows, scratch] = [0, 1, 2, 3];
  const b = new Body(4);
  const row = b.local(I32);
  const quads = b.local(I32);
  const at = b.local(I32);
  const lanes = b.local(I32);
  const out = b.local(I32);
  const total = b.local(F32);
  const divisor = b.local(F32);
  const partials = Array.from({ length: 4 }, () => b.local(V128));
  const sums = Array.from({ length: 4 }, () => b.local(V128));
  const totals = b.local(V128);
  const gathered = b.local(V128);
  const pairs = Array.from({ length: 4 }, () => b.local(V128));
  const vectors = length >> 3;
  const groups = vectors >> 2;

  /**
   * Leaves on the stack one row's sums of lanes 0-3 (half 0) or 4-7 (half 1), the row at `at`. A
   * partial starts as its first vector rather than +0 + it: that can only turn a -0 into +0, and
   * the row's total starts from +0, so no zero it reaches keeps a sign.
   */
  const laneSums = (half: number): void => {
    for (let v = 0; v < vectors; v++) {
      // Vector v of a group of four goes to partial v % 4; leftover vectors go to the first.
      const partial = v < groups * 4 ? v % 4 : 0;
      b.emit(get(at), v128Load(32 * v + 16 * half));
      const first = groups > 0 ? v < 4 : v === 0;
      if (!first) b.emit(get(partials[partial]!), f32x4Add);
      b.emit(set(partials[partial]!));
    }
    const used = groups > 0 ? 4 : 1;
    b.emit(get(partials[0]!));
    for (let p = 1; p < 4; p++) b.emit(...(p < used ? [get(partials[p]!), f32x4Add] : []));
  };

  // Pass 1, free of serial chains: each row's eight lane sums, two vectors a row at `scratch`.
  b.emit(get(src), set(at), get(scratch), set(lanes), i32(0), set(row));
  b.forLess(row, rows, () => {
    for (const half of [0, 1]) {
      b.emit(get(lanes));
      laneSums(half);
      b.emit(v128Store(16 * half));
    }
    b.emit(get(at), i32(4 * length), add, set(at), get(lanes), i32(32), add, set(lanes));
  });

  // Pass 2: per row, the tail, then lanes 0 to 7 in order, four rows a vector through a 4x4 transpose.
  b.emit(i32(length), f32ConvertI32, set(divisor));
  b.emit(get(src), set(at), get(scratch), set(lanes), get(dst), set(out), i32(0), set(row));
  b.emit(get(rows), i32(2), shrU, set(quads));
  b.forLess(row, quads, () => {
    // The tails of the four rows, element by element, from +0 as the scalar sum starts.
    b.emit(v128Zero, set(totals));
    for (let k = vectors * 8; k < length; k++) {
      b.emit(v128Zero, set(gathered));
      for (let r = 0; r < 4; r++) b.emit(get(at), get(gathered), v128Load32Lane(4 * (r * length + k), r), set(gathered));
      b.emit(get(totals), get(gathered), f32x4Add, set(totals));
    }
    for (const half of [0, 1]) {
      sums.forEach((into, r) => b.emit(get(lanes), v128Load(32 * r + 16 * half), set(into)));
      const [a, c, d, e] = sums as [number, number, number, number];
      // Column j holds lane j of the four rows, added in lane order.
      b.emit(get(a), get(c), shuffleFloats(0, 4, 1, 5), set(pairs[0]!));
      b.emit(get(a), get(c), shuffleFloats(2, 6, 3, 7), set(pairs[1]!));
      b.emit(get(d), get(e), shuffleFloats(0, 4, 1, 5), set(pairs[2]!));
      b.emit(get(d), get(e), shuffleFloats(2, 6, 3, 7), set(pairs[3]!));
      b.emit(get(totals), get(pairs[0]!), get(pairs[2]!), shuffleFloats(0, 1, 4, 5), f32x4Add);
      b.emit(get(pairs[0]!), get(pairs[2]!), shuffleFloats(2, 3, 6, 7), f32x4Add);
      b.emit(get(pairs[1]!), get(pairs[3]!), shuffleFloats(0, 1, 4, 5), f32x4Add);
      b.emit(get(pairs[1]!), get(pairs[3]!), shuffleFloats(2, 3, 6, 7), f32x4Add, set(totals));
    }
    b.emit(get(out), get(totals), get(divisor), f32x4Splat, f32x4Div, v128Store(0));
    b.emit(get(at), i32(16 * length), add, set(at), get(lanes), i32(128), add, set(lanes), get(out), i32(16), add, set(out));
  });
  b.emit(get(quads), i32(2), shl, set(row));
  b.forLess(row, rows, () => {
    b.emit(f32Zero);
    for (let k = vectors * 8; k < length; k++) b.emit(get(at), f32Load(4 * k), f32Add);
    b.emit(set(total));
    for (const half of [0, 1]) {
      b.emit(get(lanes), v128Load(16 * half), set(sums[half]!));
      for (let lane = 0; lane < 4; lane++) b.emit(get(total), get(sums[half]!), f32x4ExtractLane(lane), f32Add, set(total));
    }
    b.emit(get(out), get(total), get(divisor), f32Div, f32Store);
    b.emit(get(at), i32(4 * length), add, set(at), get(lanes), i32(32), add, set(lanes), get(out), i32(4), add, set(out));
  });
  return b.bytes();
}

// ---------------------------------------------------------------------------------------------
// Modules, compiled on first use, over one shared memory.

type Kernel = (...args: number[]) => void;

/** Kernels are unrolled over their taps; bigger windows stay with the scalar loops. */
const MAX_TAPS = 64;

let memory: WebAssembly.Memory | undefined;
const compiled = new Map<string, Kernel | null>();

/** The kernel of `key`, compiled on first use; null where WebAssembly SIMD is unavailable. */
function kernel(key: string, params: number[], body: () => number[]): Kernel | null {
  const known = compiled.get(key);
  if (known !== undefined) return known;
  let result: Kernel | null = null;
  try {
    const wasm = webAssembly();
    if (wasm) {
      memory ??= new wasm.Memory({ initial: 16 });
      result = instantiateKernel<Kernel>(wasm, params, body(), memory);
    }
  } catch {
    result = null;
  }
  compiled.set(key, result);
  return result;
}

function sumsKernel(pool: Pool2d): Kernel | null {
  const { kernelH, kernelW } = pool;
  const kind = strideKind(pool.strideW);
  return kernel(`sums ${kernelH}x${kernelW} ${kind}`, i32s(SHARED_PARAMS + 3), () => sumsBody(kernelH, kernelW, kind));
}

function maxKernel(pool: Pool2d): Kernel | null {
  const { kernelH, kernelW } = pool;
  const kind = strideKind(pool.strideW);
  return kernel(`max ${kernelH}x${kernelW} ${kind}`, i32s(SHARED_PARAMS + 4), () => maxBody(kernelH, kernelW, kind));
}

const padRowsKernel = () => kernel('padRows', i32s(8), padRowsBody);
const padRowsDividedKernel = () => kernel('padRowsDivided', i32s(10), padRowsDividedBody);
const rowMeansKernel = (length: number) => kernel(`rowMeans ${length}`, i32s(4), () => rowMeansBody(length));

/** The shared memory, grown to at least `bytes` (plus room for stride-2 loads that read past a block). */
function memoryOf(bytes: number): ArrayBuffer {
  return bufferOf(memory!, bytes + 64);
}

/** Keeps a block's input and outputs within a typical L2 cache. */
const BLOCK_BYTES = 256 * 1024;

const align = (bytes: number) => Math.ceil(bytes / 64) * 64;

/**
 * The memory grows to hold a block and never shrinks: planes so large that one of them would
 * need more stay with the scalar loops.
 */
const MAX_MEMORY_BYTES = 64 * 1024 * 1024;

/** Whether the kernels take this pool: a row of at least one vector of outputs, unrolled taps, bounded memory. */
function fits(pool: Pool2d): boolean {
  const planeBytes = 4 * (pool.inH * pool.inW + pool.paddedH * pool.paddedW + 2 * pool.outH * pool.outW);
  return pool.outW >= 4 && pool.outH >= 1 && pool.kernelH * pool.kernelW <= MAX_TAPS && planeBytes <= MAX_MEMORY_BYTES / 2;
}

/**
 * Where a call's blocks live in the memory: the unpadded input, the padded planes, then `outputs`
 * output regions and `tables` bytes, for `planes` planes a block. An output region is a page longer
 * than its block: each block is staged where copying it out is not 4 KiB-aliased (staging.ts).
 */
interface Layout {
  readonly planes: number;
  readonly padded: number;
  readonly outputs: readonly number[];
  readonly tables: number;
  readonly bytes: number;
}

function layout(pool: Pool2d, outputs: number, tableBytes: number): Layout {
  const inPlane = pool.inH * pool.inW;
  const paddedPlane = pool.paddedH * pool.paddedW;
  const outPlane = pool.outH * pool.outW;
  const planes = Math.max(1, Math.floor(BLOCK_BYTES / (4 * (inPlane + paddedPlane + outputs * outPlane))));
  const padded = align(4 * planes * inPlane);
  let at = pages(padded + align(4 * planes * paddedPlane) + 64);
  const starts: number[] = [];
  for (let i = 0; i < outputs; i++, at += pages(4 * planes * outPlane) + STAGING_SLACK) starts.push(at);
  return { planes, padded, outputs: starts, tables: at, bytes: at + tableBytes };
}

/** Divisor tables: a window's (or a cell's) divisor is rows[oh] * cols[ow], an exact integer. */
export interface Divisors {
  readonly rows: ArrayLike<number>;
  readonly cols: ArrayLike<number>;
}

/**
 * Copies `count` planes of `source` from plane `first` into the padded block, divided by the
 * tables at `tables` if given. The padding cells were filled before the first block and are never
 * written.
 */
function loadBlock(pool: Pool2d, at: Layout, source: Float32Array, first: number, count: number, floats: Float32Array, tables: number | null): void {
  const inPlane = pool.inH * pool.inW;
  floats.set(source.subarray(first * inPlane, (first + count) * inPlane), 0);
  const args = [0, at.padded, count, pool.inH, pool.inW, pool.paddedH * pool.paddedW, pool.paddedW, pool.padTop * pool.paddedW + pool.padLeft];
  if (tables === null) padRowsKernel()!(...args);
  else padRowsDividedKernel()!(...args, tables, tables + 4 * pool.inH);
}

/** Writes a divisor table pair at `at`, rows first, as floats (exact for the integers they hold). */
function writeDivisors(floats: Float32Array, at: number, divisors: Divisors, rows: number): void {
  floats.set(divisors.rows, at / 4);
  floats.set(divisors.cols, at / 4 + rows);
}

const tableBytes = (rows: number, cols: number) => align(4 * (rows + cols + 4));

function sharedArgs(pool: Pool2d, at: Layout, dst: number, planes: number): number[] {
  const { paddedH, paddedW, outH, outW, strideH, strideW } = pool;
  return [at.padded, dst, planes, paddedH * paddedW, paddedW, outH * outW, outH, outW, strideH, strideW];
}

/**
 * Window sums of `count` planes of `source` from plane `sourceFirst`, written to the planes of
 * `output` from `outputFirst`. Each window's sum is divided by `divisors` (rows[oh] * cols[ow]), or
 * left as it is when that is null; with `sourceDivisors`, each source cell is first divided by its
 * own (rows[h] * cols[w]), rounded to float32. False, with nothing written, when there is no kernel
 * for this pool.
 */
export function windowSums(
  pool: Pool2d,
  source: Float32Array,
  sourceFirst: number,
  output: Float32Array,
  outputFirst: number,
  count: number,
  divisors: Divisors | null,
  sourceDivisors: Divisors | null = null,
): boolean {
  const sums = fits(pool) ? sumsKernel(pool) : null;
  const load = sourceDivisors ? (pool.inW >= 4 ? padRowsDividedKernel() : null) : padRowsKernel();
  if (!sums || !load) return false;
  const outPlane = pool.outH * pool.outW;
  const at = layout(pool, 1, tableBytes(pool.outH, pool.outW) + tableBytes(pool.inH, pool.inW));
  const floats = new Float32Array(memoryOf(at.bytes));
  const [region] = at.outputs as [number];
  const outputTables = at.tables;
  const sourceTables = at.tables + tableBytes(pool.outH, pool.outW);
  floats.fill(0, at.padded / 4, region / 4);
  if (divisors) writeDivisors(floats, outputTables, divisors, pool.outH);
  if (sourceDivisors) writeDivisors(floats, sourceTables, sourceDivisors, pool.inH);
  for (let done = 0; done < count; done += at.planes) {
    const planes = Math.min(at.planes, count - done);
    const to = (outputFirst + done) * outPlane;
    const dst = stagingAddress(region, output.byteOffset + 4 * to);
    loadBlock(pool, at, source, sourceFirst + done, planes, floats, sourceDivisors ? sourceTables : null);
    sums(...sharedArgs(pool, at, dst, planes), outputTables, outputTables + 4 * pool.outH, divisors ? 1 : 0);
    output.set(floats.subarray(dst / 4, dst / 4 + planes * outPlane), to);
  }
  return true;
}

/**
 * Window maxima of planes [first, first + count) of `source` and their positions in the plane,
 * written to the same planes of `output` and `indices`, except that a window whose maximum is -inf
 * and which the padding clips may carry the index of a padding cell: the caller redoes those.
 * False, with nothing written, when there is no kernel for this pool.
 */
export function windowMax(pool: Pool2d, source: Float32Array, first: number, count: number, output: Float32Array, indices: Int32Array): boolean {
  const max = fits(pool) ? maxKernel(pool) : null;
  if (!max || !padRowsKernel()) return false;
  const outPlane = pool.outH * pool.outW;
  const at = layout(pool, 2, 0);
  const buffer = memoryOf(at.bytes);
  const floats = new Float32Array(buffer);
  const [valueRegion, indexRegion] = at.outputs as [number, number];
  floats.fill(-Infinity, at.padded / 4, valueRegion / 4);
  for (let p = first; p < first + count; p += at.planes) {
    const planes = Math.min(at.planes, first + count - p);
    const dst = stagingAddress(valueRegion, output.byteOffset + 4 * p * outPlane);
    const dstIndices = stagingAddress(indexRegion, indices.byteOffset + 4 * p * outPlane);
    loadBlock(pool, at, source, p, planes, floats, null);
    max(...sharedArgs(pool, at, dst, planes), pool.inW, pool.padTop, pool.padLeft, dstIndices);
    output.set(floats.subarray(dst / 4, dst / 4 + planes * outPlane), p * outPlane);
    indices.set(new Int32Array(buffer, dstIndices, planes * outPlane), p * outPlane);
  }
  return true;
}

/** The row lengths `rowMeans` takes. */
export const rowMeansLimits = { min: 8, maxExclusive: 512 } as const;

/**
 * The mean of each contiguous row of `rowLength` floats of `source` into `output` (one per row),
 * summed in ATen's vectorised order. False, with nothing written, when there is no kernel.
 */
export function rowMeans(source: Float32Array, rowLength: number, output: Float32Array): boolean {
  const means = rowLength >= rowMeansLimits.min && rowLength < rowMeansLimits.maxExclusive ? rowMeansKernel(rowLength) : null;
  if (!means) return false;
  const per = Math.max(1, Math.floor(BLOCK_BYTES / (4 * (rowLength + 9))));
  const dst = align(4 * per * rowLength);
  const scratch = align(dst + 4 * per);
  const floats = new Float32Array(memoryOf(scratch + 32 * per));
  for (let row = 0; row < output.length; row += per) {
    const rows = Math.min(per, output.length - row);
    floats.set(source.subarray(row * rowLength, (row + rows) * rowLength), 0);
    means(0, dst, rows, scratch);
    output.set(floats.subarray(dst / 4, dst / 4 + rows), row);
  }
  return true;
}
export const __probe = { rowMeansKernel, memoryOf, mem: () => memory! };
