/**
 * Pooling geometry shared by max, avg and LP pooling: PyTorch's output-size rule, the shape checks
 * of ATen's Pool.h with PyTorch 1.13.1's messages, and the window tables the loops read.
 *
 * Every pool runs as a 3d pool over (planes, D, H, W). A 2d pool has a unit D and a 1d pool unit D
 * and H, the way ATen runs 1d pools as 2d ones, so the window rules exist once.
 */
import { check, formatSizes, KernelArgumentError } from '../errors.js';
import { numel } from '../tensor.js';

/** One spatial dimension of a pool: the input extent, the output extent and the window arithmetic. */
export interface PoolDim {
  readonly size: number;
  readonly out: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
}

/** What the loops read: `planes` (n, c) slices, each of depth x height x width. */
export interface PoolGeometry {
  readonly planes: number;
  readonly depth: PoolDim;
  readonly height: PoolDim;
  readonly width: PoolDim;
  readonly outputShape: readonly number[];
}

const unitDim: PoolDim = { size: 1, out: 1, kernel: 1, stride: 1, padding: 0, dilation: 1 };

/** C++ integer division, which truncates toward zero (`-1 / 2 == 0`). */
export function cDiv(a: number, b: number): number {
  return Math.trunc(a / b);
}

/**
 * `pooling_output_shape` of Pool.h (1.13.1): stride and padding checks, then
 * `floor((in + 2p - d(k-1) - 1 + (ceil ? s-1 : 0)) / s) + 1`, and in ceil mode the last window is
 * dropped when it would start in the right padding. The padding limit uses the raw kernel size.
 */
export function poolingOutputSize(
  inputSize: number,
  kernel: number,
  padding: number,
  stride: number,
  dilation: number,
  ceilMode: boolean,
): number {
  check(stride !== 0, 'stride should not be zero');
  check(padding >= 0, () => `pad must be non-negative, but got pad: ${padding}`);
  check(
    padding <= cDiv(kernel, 2),
    () => `pad should be at most half of kernel size, but got pad=${padding} and kernel_size=${kernel}`,
  );
  // div_rtn: rounds toward negative infinity, so a window longer than the input gives out <= 0.
  let out = Math.floor((inputSize + 2 * padding - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= inputSize + padding) out--;
  return out;
}

/**
 * The geometry of a pool whose spatial dims are the last `dims.length` dims of `inputShape`
 * (outermost first); the dims before them are planes, and absent outer spatial dims are unit dims.
 */
export function poolGeometry(inputShape: readonly number[], dims: readonly PoolDim[]): PoolGeometry {
  const leading = inputShape.slice(0, inputShape.length - dims.length);
  let planes = 1;
  for (const d of leading) planes *= d;
  const [depth, height, width] = [...new Array<PoolDim>(3 - dims.length).fill(unitDim), ...dims] as [PoolDim, PoolDim, PoolDim];
  return { planes, depth, height, width, outputShape: [...leading, ...dims.map((d) => d.out)] };
}

/** Zips per-dim argument lists (outermost dim first) into PoolDims. */
export function makeDims(
  sizes: readonly number[],
  outs: readonly number[],
  kernel: readonly number[],
  stride: readonly number[],
  padding: readonly number[],
  dilation: readonly number[],
): PoolDim[] {
  return sizes.map((size, i) => ({
    size,
    out: outs[i],
    kernel: kernel[i],
    stride: stride[i],
    padding: padding[i],
    dilation: dilation[i],
  }));
}

/** An int-list argument of a 2d or 3d pool: one value for every dim, or one value per dim. */
export function perDim(values: readonly number[], n: number): number[] {
  return values.length === 1 ? new Array<number>(n).fill(values[0]) : [...values];
}

/** `pool2d_shape_check` of Pool.h (1.13.1) on a 3-d or 4-d input (checked in the order ATen checks). */
export function pool2dShapeCheck(
  shape: readonly number[],
  [kH, kW]: readonly number[],
  [dH, dW]: readonly number[],
  [dilationH, dilationW]: readonly number[],
  [outH, outW]: readonly number[],
): void {
  check(kW > 0 && kH > 0, () => `kernel size should be greater than zero, but got kH: ${kH} kW: ${kW}`);
  check(dW > 0 && dH > 0, () => `stride should be greater than zero, but got dH: ${dH} dW: ${dW}`);
  check(
    dilationH > 0 && dilationW > 0,
    () => `dilation should be greater than zero, but got dilationH: ${dilationH} dilationW: ${dilationW}`,
  );
  const ndim = shape.length;
  const validDims = shape[1] !== 0 && shape[2] !== 0;
  check(
    (ndim === 3 && shape[0] !== 0 && validDims) || (ndim === 4 && validDims && shape[3] !== 0),
    () => `Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:${formatSizes(shape)}`,
  );
  // ATen's own pad check here can never fire: poolingOutputSize has applied a stricter one.
  const [planes, inH, inW] = shape.slice(-3);
  check(
    outW >= 1 && outH >= 1,
    () =>
      `Given input size: (${planes}x${inH}x${inW}). Calculated output size: (${planes}x${outH}x${outW}). ` +
      'Output size is too small',
  );
}

/**
 * `pool3d_shape_check` of Pool.h (1.13.1) on a 4-d or 5-d input. `checkInputSize` is avg_pool3d's
 * extra rule that the input be at least the kernel in every dim, whatever the padding.
 */
export function pool3dShapeCheck(
  shape: readonly number[],
  fnName: string,
  [kT, kH, kW]: readonly number[],
  [dT, dH, dW]: readonly number[],
  [dilationT, dilationH, dilationW]: readonly number[],
  [outT, outH, outW]: readonly number[],
  checkInputSize: boolean,
): void {
  check(kT > 0 && kW > 0 && kH > 0, () => `kernel size should be greater than zero, but got kT: ${kT} kH: ${kH} kW: ${kW}`);
  check(dT > 0 && dW > 0 && dH > 0, () => `stride should be greater than zero, but got dT: ${dT} dH: ${dH} dW: ${dW}`);
  check(
    dilationT > 0 && dilationW > 0 && dilationH > 0,
    () =>
      `dilation should be greater than zero, but got dilationT: ${dilationT} dilationH: ${dilationH} dilationW: ${dilationW}`,
  );
  const ndim = shape.length;
  check(ndim === 4 || ndim === 5, () => `${fnName}: Expected 4D or 5D tensor for input, but got: ${formatSizes(shape)}`);
  for (let i = ndim === 5 ? 1 : 0; i < ndim; i++) {
    // ATen prints the dimension's size here, not its index, so the message always reads "dimension 0".
    check(
      shape[i] > 0,
      () =>
        `${fnName}: Expected input's non-batch dimensions to have positive length, but input has a shape of ` +
        `${formatSizes(shape)} and non-batch dimension ${shape[i]} has length zero!`,
    );
  }
  const [planes, inT, inH, inW] = shape.slice(-4);
  if (checkInputSize) {
    check(
      inT >= kT && inH >= kH && inW >= kW,
      () => `input image (T: ${inT} H: ${inH} W: ${inW}) smaller than kernel size (kT: ${kT} kH: ${kH} kW: ${kW})`,
    );
  }
  check(
    outT >= 1 && outW >= 1 && outH >= 1,
    () =>
      `Given input size: (${planes}x${inT}x${inH}x${inW}). Calculated output size: (${planes}x${outT}x${outH}x${outW}). ` +
      'Output size is too small',
  );
}

/** `input.size(-3)` on a tensor of fewer than 3 dims: the IndexError PyTorch raises. */
export function checkHasDims(shape: readonly number[], count: number): void {
  if (shape.length >= count) return;
  const n = Math.max(shape.length, 1);
  throw new KernelArgumentError(
    `Dimension out of range (expected to be in range of [${-n}, ${n - 1}], but got ${-count})`,
    'IndexError',
  );
}

/** `checkDimRange` of ATen's TensorUtils: `min <= ndim < maxExclusive`. */
export function checkDimRange(shape: readonly number[], min: number, maxExclusive: number, fn: string): void {
  check(
    shape.length >= min && shape.length < maxExclusive,
    () =>
      `Expected ${min} to ${maxExclusive - 1} dimensions, but got ${shape.length}-dimensional tensor ` +
      `for argument #1 'self' (while checking arguments for ${fn})`,
  );
}

/** `check1d` of Pooling.cpp: a 1d pool argument must hold exactly one int. */
export function check1d(fn: string, name: string, values: readonly number[]): void {
  check(values.length === 1, () => `${fn}() argument '${name}' should contain one int (got ${values.length})`);
}

/** Window bounds along one dim, per output position: `[start, end)` in input coordinates. */
export interface Windows {
  readonly start: Int32Array;
  readonly end: Int32Array;
}

/**
 * Max pooling taps along one dim (DilatedMaxPool2d): `start` is the first tap inside the input,
 * found by stepping over the left padding by whole dilations so the taps keep their phase; `end`
 * is one past the window's last input position. Taps are start, start + dilation, ... below end.
 * A dilated window can fall entirely in the padding; then start >= end and the window is empty.
 */
export function maxPoolWindows(dim: PoolDim): Windows {
  const { out, size, kernel, stride, padding, dilation } = dim;
  const start = new Int32Array(out);
  const end = new Int32Array(out);
  for (let o = 0; o < out; o++) {
    let s = o * stride - padding;
    end[o] = Math.min(s + (kernel - 1) * dilation + 1, size);
    if (s < 0) s += Math.ceil(-s / dilation) * dilation;
    start[o] = s;
  }
  return { start, end };
}

/** Avg pooling windows along one dim, clipped to the input; `padded` is the extent counted with padding. */
export interface AvgWindows extends Windows {
  readonly padded: Int32Array;
}

/**
 * Avg pooling windows along one dim (AvgPoolKernel.cpp): a window is clipped at the padded edge
 * `in + p` for the count_include_pad divisor, and at the input for the cells it sums. So the part
 * of a ceil-mode window that hangs past the padding is never counted.
 */
export function avgPoolWindows(dim: PoolDim): AvgWindows {
  const { out, size, kernel, stride, padding } = dim;
  const start = new Int32Array(out);
  const end = new Int32Array(out);
  const padded = new Int32Array(out);
  for (let o = 0; o < out; o++) {
    const s = o * stride - padding;
    const e = Math.min(s + kernel, size + padding);
    padded[o] = e - s;
    start[o] = Math.max(s, 0);
    end[o] = Math.min(e, size);
  }
  return { start, end, padded };
}

/**
 * The output positions along one dim whose windows lie wholly inside the input: `[first, end)`.
 * Windows outside that range are clipped by the padding (or hang past the input in ceil mode).
 */
export function interiorRange(dim: PoolDim): { first: number; end: number } {
  const { out, size, kernel, stride, padding, dilation } = dim;
  const span = (kernel - 1) * dilation + 1;
  let first = 0;
  while (first < out && first * stride - padding < 0) first++;
  let end = out;
  while (end > first && (end - 1) * stride - padding + span > size) end--;
  return { first, end };
}

/**
 * The windows of a pool over the last `kernel.length` dims of `shape` once its arguments are
 * checked: the output sizes, `shapeCheck` on them (the rank's Pool.h check), then the geometry.
 */
export function checkedGeometry(
  shape: readonly number[],
  kernel: readonly number[],
  stride: readonly number[],
  padding: readonly number[],
  dilation: readonly number[],
  ceilMode: boolean,
  shapeCheck: (outs: readonly number[]) => void,
): PoolGeometry {
  const sizes = shape.slice(-kernel.length);
  const outs = sizes.map((size, i) => poolingOutputSize(size, kernel[i], padding[i], stride[i], dilation[i], ceilMode));
  shapeCheck(outs);
  return poolGeometry(shape, makeDims(sizes, outs, kernel, stride, padding, dilation));
}

/** The (..., 1, L) view of a (..., L) input on which ATen runs a 1d pool as a 2d one. */
export function view2dOf1d(shape: readonly number[]): number[] {
  return [...shape.slice(0, -1), 1, shape[shape.length - 1]!];
}

/** The 1d result shape of a geometry computed on view2dOf1d: the view's unit dim removed. */
export function from2dView(geometry: PoolGeometry): PoolGeometry {
  const unitDim = geometry.outputShape.length - 2;
  return { ...geometry, outputShape: geometry.outputShape.filter((_, i) => i !== unitDim) };
}

/** Whether the pool runs over (H, W) planes: unit depth, so a 1d pool on its 2d view is one too. */
export function isPlanePool(g: PoolGeometry): boolean {
  return g.depth.size === 1 && g.depth.kernel === 1 && g.depth.out === 1;
}

/** A pool's estimated work: every output reads a whole window. */
export function poolWork(g: PoolGeometry): number {
  return numel(g.outputShape) * g.depth.kernel * g.height.kernel * g.width.kernel;
}
