/**
 * torch.mean(input, dim=None, keepdim=False) and its backward.
 *
 * PyTorch 1.13 computes a float mean on CPU as `sum(input, dim) / count`, each a float32 operation
 * for float32 input. The sum is ATen's `cascade_sum` (aten/src/ATen/native/cpu/SumKernel.cpp):
 * it walks the tensor like TensorIterator does (reduced dims innermost, dims coalesced) and adds in
 * a fixed order of vector lanes, 4-way interleaved partial sums and a cascade of levels. This file
 * reproduces that order with the vector widths of the AVX2 / NEON build (8 float32 lanes, 4
 * float64 lanes), which makes the result bit-identical to PyTorch's on single-threaded reductions.
 */
import { KernelArgumentError, check } from '../errors.js';
import { checkGradOutput, floatArg, readBool, readIntOrTuple, shapeArg } from '../arguments.js';
import type { OpSpec, Params, Shapes, Tensors } from '../registry.js';
import { allocate } from '../storage.js';
import type { FloatArray, FloatTensor } from '../tensor.js';
import { numel } from '../tensor.js';

export interface MeanOptions {
  /** A dim, a list of dims (negative counts from the end), or null / omitted for all dims. */
  readonly dim?: number | readonly number[] | null;
  readonly keepdim?: boolean;
}

/** Which dims a mean reduces and what it produces, known from the shape alone. */
export interface MeanGeometry {
  /** Per input dim: true when it is averaged away. */
  readonly reduced: readonly boolean[];
  readonly outputShape: readonly number[];
  /** How many input elements each output averages (PyTorch's `dim_prod`). */
  readonly count: number;
}

/** ATen's maybe_wrap_dim: a 0-dim tensor accepts dims -1 and 0. */
function wrapDim(dim: number, ndim: number): number {
  const extent = Math.max(ndim, 1);
  if (dim < -extent || dim > extent - 1) {
    throw new KernelArgumentError(
      `Dimension out of range (expected to be in range of [${-extent}, ${extent - 1}], but got ${dim})`,
      'IndexError',
    );
  }
  return dim < 0 ? dim + extent : dim;
}

function readDims(value: unknown): number[] | null {
  if (value === undefined || value === null) return null;
  return readIntOrTuple(value, 'mean', 'dim');
}

export function meanGeometry(shape: readonly number[], opts: MeanOptions | Params): MeanGeometry {
  const dims = readDims(opts.dim);
  const keepdim = readBool(opts.keepdim, 'mean', 'keepdim', false);
  const ndim = shape.length;
  // An empty dim list reduces every dim, as in PyTorch 1.13.
  const reduceAll = dims === null || dims.length === 0;
  const reduced = new Array<boolean>(ndim).fill(reduceAll);
  if (!reduceAll) {
    const seen = new Array<boolean>(Math.max(ndim, 1)).fill(false);
    for (const d of dims) {
      const w = wrapDim(d, ndim);
      check(!seen[w], `dim ${w} appears multiple times in the list of dims`);
      seen[w] = true;
      if (ndim > 0) reduced[w] = true;
    }
  }
  const outputShape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndim; d++) {
    if (reduced[d]) {
      count *= shape[d]!;
      if (keepdim) outputShape.push(1);
    } else {
      outputShape.push(shape[d]!);
    }
  }
  return { reduced, outputShape, count };
}

// ---------------------------------------------------------------------------------------------
// ATen's summation order. `f32` selects float32 rounding after every add (acc_type of float on
// the vectorised path is float); float64 adds are native.

const FLOAT32_LANES = 8;
const FLOAT64_LANES = 4;

function ceilLog2(x: number): number {
  return x <= 2 ? 1 : Math.ceil(Math.log2(x));
}

/**
 * multi_row_sum for one column: sums `size` values `stride` apart in chunks of 16 (or more), the
 * chunk sums in chunks again, over 4 levels.
 */
function cascadeSum(x: FloatArray, base: number, stride: number, size: number, f32: boolean): number {
  const levelPower = Math.max(4, Math.floor(ceilLog2(size) / 4));
  const levelStep = 1 << levelPower;
  const levelMask = levelStep - 1;
  let acc0 = 0;
  let acc1 = 0;
  let acc2 = 0;
  let acc3 = 0;
  let i = 0;
  let p = base;
  while (i + levelStep <= size) {
    for (let j = 0; j < levelStep; j++, i++, p += stride) acc0 = f32 ? Math.fround(acc0 + x[p]!) : acc0 + x[p]!;
    acc1 = f32 ? Math.fround(acc1 + acc0) : acc1 + acc0;
    acc0 = 0;
    if ((i & (levelMask << levelPower)) !== 0) continue;
    acc2 = f32 ? Math.fround(acc2 + acc1) : acc2 + acc1;
    acc1 = 0;
    if ((i & (levelMask << (2 * levelPower))) !== 0) continue;
    acc3 = f32 ? Math.fround(acc3 + acc2) : acc3 + acc2;
    acc2 = 0;
  }
  for (; i < size; i++, p += stride) acc0 = f32 ? Math.fround(acc0 + x[p]!) : acc0 + x[p]!;
  if (f32) return Math.fround(Math.fround(Math.fround(acc0 + acc1) + acc2) + acc3);
  return acc0 + acc1 + acc2 + acc3;
}

/** row_sum: the row read as (-1, 4), four interleaved cascade sums, the tail into the first. */
function rowSum(x: FloatArray, base: number, stride: number, size: number, f32: boolean): number {
  const groups = Math.floor(size / 4);
  let p0 = cascadeSum(x, base, 4 * stride, groups, f32);
  const p1 = cascadeSum(x, base + stride, 4 * stride, groups, f32);
  const p2 = cascadeSum(x, base + 2 * stride, 4 * stride, groups, f32);
  const p3 = cascadeSum(x, base + 3 * stride, 4 * stride, groups, f32);
  for (let i = groups * 4; i < size; i++) p0 = f32 ? Math.fround(p0 + x[base + i * stride]!) : p0 + x[base + i * stride]!;
  if (f32) return Math.fround(Math.fround(Math.fround(p0 + p1) + p2) + p3);
  return p0 + p1 + p2 + p3;
}

/**
 * vectorized_inner_sum for one contiguous row: a row_sum over whole vectors, lane by lane, then the
 * scalar tail, then the lanes in order.
 */
function vectorRowSum(x: FloatArray, base: number, size: number, lanes: number, f32: boolean): number {
  const vectors = Math.floor(size / lanes);
  const groups = vectors >> 2;
  const groupStride = 4 * lanes;
  let tail = 0;
  for (let k = vectors * lanes; k < size; k++) tail = f32 ? Math.fround(tail + x[base + k]!) : tail + x[base + k]!;
  let total = tail;
  if (groups < 16) {
    // Fewer groups than one cascade chunk: each partial sum is a plain running sum (the cascade's
    // final `+ 0` adds cannot change it, as a sum started at +0 is never -0).
    for (let l = 0; l < lanes; l++) {
      let p0 = 0;
      let p1 = 0;
      let p2 = 0;
      let p3 = 0;
      let q = base + l;
      if (f32) {
        for (let g = 0; g < groups; g++, q += groupStride) {
          p0 = Math.fround(p0 + x[q]!);
          p1 = Math.fround(p1 + x[q + lanes]!);
          p2 = Math.fround(p2 + x[q + 2 * lanes]!);
          p3 = Math.fround(p3 + x[q + 3 * lanes]!);
        }
        for (let v = groups * 4; v < vectors; v++) p0 = Math.fround(p0 + x[base + v * lanes + l]!);
        total = Math.fround(total + Math.fround(Math.fround(Math.fround(p0 + p1) + p2) + p3));
      } else {
        for (let g = 0; g < groups; g++, q += groupStride) {
          p0 += x[q]!;
          p1 += x[q + lanes]!;
          p2 += x[q + 2 * lanes]!;
          p3 += x[q + 3 * lanes]!;
        }
        for (let v = groups * 4; v < vectors; v++) p0 += x[base + v * lanes + l]!;
        total += p0 + p1 + p2 + p3;
      }
    }
    return total;
  }
  for (let l = 0; l < lanes; l++) {
    let p0 = cascadeSum(x, base + l, groupStride, groups, f32);
    const p1 = cascadeSum(x, base + lanes + l, groupStride, groups, f32);
    const p2 = cascadeSum(x, base + 2 * lanes + l, groupStride, groups, f32);
    const p3 = cascadeSum(x, base + 3 * lanes + l, groupStride, groups, f32);
    for (let v = groups * 4; v < vectors; v++) p0 = f32 ? Math.fround(p0 + x[base + v * lanes + l]!) : p0 + x[base + v * lanes + l]!;
    const lane = f32 ? Math.fround(Math.fround(Math.fround(p0 + p1) + p2) + p3) : p0 + p1 + p2 + p3;
    total = f32 ? Math.fround(total + lane) : total + lane;
  }
  return total;
}

interface LoopDim {
  size: number;
  inStride: number;
  outStride: number;
}

/**
 * The dims as TensorIterator iterates a reduction of a contiguous input: fastest first, reduced dims
 * moved in front of kept ones (ATen's reorder_dimensions; with distinct contiguous strides its sort
 * is exactly this stable partition), size-1 dims dropped and mergeable neighbours coalesced.
 */
function reductionLoopDims(shape: readonly number[], reduced: readonly boolean[]): LoopDim[] {
  const ndim = shape.length;
  const inStrides = new Array<number>(ndim);
  const outStrides = new Array<number>(ndim);
  let inStride = 1;
  let outStride = 1;
  for (let d = ndim - 1; d >= 0; d--) {
    inStrides[d] = inStride;
    inStride *= shape[d]!;
    outStrides[d] = reduced[d] ? 0 : outStride;
    if (!reduced[d]) outStride *= shape[d]!;
  }
  const fastestFirst: LoopDim[] = [];
  for (let d = ndim - 1; d >= 0; d--) {
    if (shape[d] !== 1) fastestFirst.push({ size: shape[d]!, inStride: inStrides[d]!, outStride: outStrides[d]! });
  }
  const ordered = [...fastestFirst.filter((d) => d.outStride === 0), ...fastestFirst.filter((d) => d.outStride !== 0)];
  if (ordered.length === 0) return [{ size: 1, inStride: 1, outStride: 0 }];
  const dims: LoopDim[] = [{ ...ordered[0]! }];
  for (let i = 1; i < ordered.length; i++) {
    const prev = dims[dims.length - 1]!;
    const next = ordered[i]!;
    if (prev.size * prev.inStride === next.inStride && prev.size * prev.outStride === next.outStride) prev.size *= next.size;
    else dims.push({ ...next });
  }
  return dims;
}

/** One call of cascade_sum's 2-d loop: accumulates into `out` as ATen's CastStoreAccumulate does. */
function sumLoop2d(
  x: FloatArray,
  out: FloatArray,
  inBase: number,
  outBase: number,
  d0: LoopDim,
  d1: LoopDim,
  lanes: number,
  f32: boolean,
): void {
  let [size0, size1] = [d0.size, d1.size];
  let [in0, in1] = [d0.inStride, d1.inStride];
  let [out0, out1] = [d0.outStride, d1.outStride];
  if (out0 !== 0 && out1 === 0) {
    [size0, size1, in0, in1, out0, out1] = [size1, size0, in1, in0, out1, out0];
  }
  if (out0 !== 0) {
    // Not a true reduction: out += in elementwise.
    for (let j = 0; j < size1; j++) {
      for (let i = 0; i < size0; i++) {
        const o = outBase + j * out1 + i * out0;
        out[o] = out[o]! + x[inBase + j * in1 + i * in0]!;
      }
    }
    return;
  }
  const store = (j: number, value: number) => {
    const o = outBase + j * out1;
    out[o] = out[o]! + value;
  };
  if (in0 === 1 && size0 >= lanes) {
    for (let j = 0; j < size1; j++) store(j, vectorRowSum(x, inBase + j * in1, size0, lanes, f32));
  } else if (in1 === 1 && size1 >= lanes) {
    // vectorized_outer_sum: 4 vectors of columns at a time, then single vectors, then scalars.
    let j = 0;
    for (; j + 4 * lanes <= size1; j += 4 * lanes) {
      for (let c = j; c < j + 4 * lanes; c++) store(c, cascadeSum(x, inBase + c, in0, size0, f32));
    }
    for (; j < size1; j++) store(j, rowSum(x, inBase + j, in0, size0, f32));
  } else if (in0 < in1) {
    for (let j = 0; j < size1; j++) store(j, rowSum(x, inBase + j * in1, in0, size0, f32));
  } else {
    // scalar_outer_sum: columns in groups of 4 share one multi_row_sum, the rest use row_sum.
    let j = 0;
    for (; j + 3 < size1; j += 4) {
      for (let c = j; c < j + 4; c++) store(c, cascadeSum(x, inBase + c * in1, in0, size0, f32));
    }
    for (; j < size1; j++) store(j, rowSum(x, inBase + j * in1, in0, size0, f32));
  }
}

/** sum(input, dims) in PyTorch's float order, into `out` (which must start zeroed). */
function sumInto(x: FloatArray, shape: readonly number[], reduced: readonly boolean[], out: FloatArray, f32: boolean): void {
  if (x.length === 0) return;
  const lanes = f32 ? FLOAT32_LANES : FLOAT64_LANES;
  const dims = reductionLoopDims(shape, reduced);
  const d0 = dims[0]!;
  const d1 = dims[1] ?? { size: 1, inStride: 0, outStride: 0 };
  const outer = dims.slice(2);
  const counter = new Array<number>(outer.length).fill(0);
  let inBase = 0;
  let outBase = 0;
  for (;;) {
    sumLoop2d(x, out, inBase, outBase, d0, d1, lanes, f32);
    let k = 0;
    for (; k < outer.length; k++) {
      const dim = outer[k]!;
      counter[k]!++;
      inBase += dim.inStride;
      outBase += dim.outStride;
      if (counter[k]! < dim.size) break;
      inBase -= dim.inStride * dim.size;
      outBase -= dim.outStride * dim.size;
      counter[k] = 0;
    }
    if (k === outer.length) return;
  }
}

// ---------------------------------------------------------------------------------------------

export function mean(input: FloatTensor, opts: MeanOptions): FloatTensor {
  const { reduced, outputShape, count } = meanGeometry(input.shape, opts);
  const f32 = input.dtype === 'float32';
  const out = allocate(input.dtype, numel(outputShape));
  sumInto(input.data, input.shape, reduced, out, f32);
  // `div_(dim_prod)`: one division per output, by the count cast to the output's dtype.
  const divisor = f32 ? Math.fround(count) : count;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / divisor;
  return { shape: outputShape, dtype: input.dtype, data: out };
}

/** Every input element gets grad / count, as mean_backward's `sum_backward(grad) / n` does. */
export function meanBackward(gradOutput: FloatTensor, input: FloatTensor, opts: MeanOptions): FloatTensor {
  const { reduced, outputShape, count } = meanGeometry(input.shape, opts);
  checkGradOutput(gradOutput, input, outputShape);
  const g = gradOutput.data;
  const divisor = input.dtype === 'float32' ? Math.fround(count) : count;
  const gradInput = allocate(input.dtype, input.data.length);
  const shape = input.shape;
  const ndim = shape.length;
  // Output stride of each input dim (0 where reduced), to find each element's grad.
  const outStrides = new Array<number>(ndim);
  let stride = 1;
  for (let d = ndim - 1; d >= 0; d--) {
    outStrides[d] = reduced[d] ? 0 : stride;
    if (!reduced[d]) stride *= shape[d]!;
  }
  const counter = new Array<number>(ndim).fill(0);
  const last = ndim - 1;
  const rowLength = ndim === 0 ? 1 : shape[last]!;
  const rowStride = ndim === 0 ? 0 : outStrides[last]!;
  let o = 0;
  for (let i = 0; i < gradInput.length; i += rowLength) {
    for (let j = 0; j < rowLength; j++) gradInput[i + j] = g[o + j * rowStride]! / divisor;
    // Advance the odometer over all dims but the last.
    for (let d = last - 1; d >= 0; d--) {
      counter[d]!++;
      o += outStrides[d]!;
      if (counter[d]! < shape[d]!) break;
      o -= outStrides[d]! * shape[d]!;
      counter[d] = 0;
    }
  }
  return { shape: [...shape], dtype: input.dtype, data: gradInput };
}

export const reductionOps: OpSpec[] = [
  {
    name: 'mean',
    summary: 'torch.mean(input, dim=None, keepdim=False)',
    tensorArgs: [{ name: 'input', kind: 'float' }],
    gradients: ['grad_input'],
    plan(shapes: Shapes, params: Params) {
      const shape = shapeArg('mean', shapes, 'input');
      const { outputShape } = meanGeometry(shape, params);
      return { outputs: { output: outputShape }, work: numel(shape) };
    },
    forward(tensors: Tensors, params: Params) {
      return { output: mean(floatArg('mean', tensors, 'input'), params) };
    },
    backward(tensors: Tensors, params: Params) {
      return { grad_input: meanBackward(floatArg('mean', tensors, 'grad_output'), floatArg('mean', tensors, 'input'), params) };
    },
  },
];
