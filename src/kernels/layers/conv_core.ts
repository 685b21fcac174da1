/**
 * Convolution shared by conv1d, conv2d and conv_transpose2d: argument checks with ATen's messages
 * (Convolution.cpp: `conv2d`, `_convolution_mode`, `convolution_same`, `check_shape_forward`;
 * NaiveConvolutionTranspose2d.cpp for the transposed shape check), the geometry computed once,
 * and im2col/col2im around the single gemm.
 *
 * Everything is 2-d internally; a 1-d convolution is a 2-d one with H = 1 and a 1-high kernel.
 */
import { KernelArgumentError, check, formatSizes } from '../errors.js';
import { gemm } from '../gemm.js';
import { gemmGathered, gemmScattered, type GatheredB } from '../gemm_tables.js';
import { forwardColumns, inputColumns, weightColumns } from './gathered_columns.js';
import { allocate, zerosFloat } from '../storage.js';
import type { FloatArray, FloatTensor } from '../tensor.js';
import { numel } from '../tensor.js';
import { checkKeywords, intArg, intsArg, pythonTypeName, sameDtype } from './args.js';

export interface ConvOptions {
  stride?: number | number[];
  padding?: number | number[] | 'same' | 'valid';
  dilation?: number | number[];
  groups?: number;
}

export interface ConvTransposeOptions {
  stride?: number | number[];
  padding?: number | number[];
  output_padding?: number | number[];
  groups?: number;
  dilation?: number | number[];
}

export interface ConvGradients {
  grad_input: FloatTensor;
  grad_weight: FloatTensor;
  grad_bias?: FloatTensor;
}

/**
 * How kernel windows sit on an image: window position (oh, ow) with tap (ki, kj) reads image pixel
 * (oh*sH - pT + ki*dH, ow*sW - pL + kj*dW). For a convolution the image is the input and the
 * positions are the output; for a transposed convolution it is the other way round.
 */
export interface WindowMap {
  readonly imageH: number;
  readonly imageW: number;
  readonly posH: number;
  readonly posW: number;
  readonly kH: number;
  readonly kW: number;
  readonly sH: number;
  readonly sW: number;
  readonly pT: number;
  readonly pL: number;
  readonly dH: number;
  readonly dW: number;
}

/** Everything the loops need, computed once from the shapes and the arguments. */
export interface ConvGeometry {
  /** Spatial dims of the public op (1 or 2). */
  readonly spatialDims: 1 | 2;
  readonly transposed: boolean;
  readonly batched: boolean;
  readonly batch: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly groups: number;
  readonly inH: number;
  readonly inW: number;
  readonly outH: number;
  readonly outW: number;
  /** Input pixels of the convolution (or output pixels of the transposed one) mapped to windows. */
  readonly map: WindowMap;
  readonly outputShape: readonly number[];
  /** Multiply-adds of the forward. */
  readonly work: number;
}

const convKeywords = ['stride', 'padding', 'dilation', 'groups'];
const transposeKeywords = ['stride', 'padding', 'output_padding', 'groups', 'dilation'];

/** A per-dim argument: one int for every dim, or exactly one per dim (ATen's expand_param_if_needed). */
function expand(fn: string, name: string, value: number | number[], dims: number): number[] {
  if (typeof value === 'number') return new Array<number>(dims).fill(value);
  if (value.length === 1) return new Array<number>(dims).fill(value[0]!);
  if (value.length !== dims) {
    throw new KernelArgumentError(
      `expected ${name} to be a single integer value or a list of ${dims} values to match the convolution dimensions, but got ${name}=${formatSizes(value)}`,
    );
  }
  return [...value];
}

/** Spatial sizes of a shape as the 2-d core sees them. */
function spatial2d(shape: readonly number[], from: number, dims: 1 | 2): [number, number] {
  return dims === 1 ? [1, shape[from]!] : [shape[from]!, shape[from + 1]!];
}

function checkInputRank(fn: string, inputShape: readonly number[], dims: 1 | 2): boolean {
  const unbatched = dims + 1;
  const batched = dims + 2;
  check(
    inputShape.length === unbatched || inputShape.length === batched,
    () =>
      `Expected ${unbatched}D (unbatched) or ${batched}D (batched) input to ${fn}, but got input of size: ${formatSizes(inputShape)}`,
  );
  return inputShape.length === batched;
}

/** The batched form of a shape (unbatched inputs get N = 1, as ATen's batchify does). */
function batchify(shape: readonly number[], batched: boolean): number[] {
  return batched ? [...shape] : [1, ...shape];
}

/** The checks of check_shape_forward common to both directions. */
function checkWeightAgainstGroups(
  inputShape: readonly number[],
  weightShape: readonly number[],
  groups: number,
): void {
  check(
    weightShape.length === inputShape.length,
    () =>
      `Expected ${weightShape.length}-dimensional input for ${weightShape.length}-dimensional weight ${formatSizes(weightShape)}, but got ${inputShape.length}-dimensional input of size ${formatSizes(inputShape)} instead`,
  );
  check(
    weightShape[0]! >= groups,
    () =>
      `Given groups=${groups}, expected weight to be at least ${groups} at dimension 0, but got weight of size ${formatSizes(weightShape)} instead`,
  );
  check(
    weightShape[0]! % groups === 0,
    () =>
      `Given groups=${groups}, expected weight to be divisible by ${groups} at dimension 0, but got weight of size [${formatSizes(weightShape)}] instead`,
  );
}

/** Geometry of conv1d / conv2d, with every check PyTorch makes before touching data. */
export function convGeometry(
  fn: 'conv1d' | 'conv2d',
  inputShape: readonly number[],
  weightShape: readonly number[],
  biasShape: readonly number[] | null,
  params: Readonly<Record<string, unknown>>,
): ConvGeometry {
  const dims: 1 | 2 = fn === 'conv1d' ? 1 : 2;
  checkKeywords(fn, params, convKeywords);
  const strideArg = intsArg(fn, 'stride', params.stride, 1);
  const dilationArg = intsArg(fn, 'dilation', params.dilation, 1);
  const groups = intArg(fn, 'groups', params.groups, 1);
  const rawPadding = params.padding;
  const paddingArg = typeof rawPadding === 'string' ? rawPadding : intsArg(fn, 'padding', rawPadding, 0);

  const batched = checkInputRank(fn, inputShape, dims);
  const input = batchify(inputShape, batched);

  // String padding resolves before the generic checks (as in _convolution_mode); ints after.
  let stringPadding: [number[], number[]] | undefined;
  if (typeof paddingArg === 'string') {
    check(paddingArg === 'same' || paddingArg === 'valid', () => `Invalid padding string: '${paddingArg}'`);
    if (paddingArg === 'same') {
      check(weightShape.length > 2, 'weight should have at least three dimensions');
      check(
        weightShape.length === input.length,
        () =>
          `Expected ${weightShape.length}-dimensional input for ${weightShape.length}-dimensional weight${formatSizes(weightShape)}, but got ${input.length}-dimensional input of size ${formatSizes(input)} instead`,
      );
      const strides = typeof strideArg === 'number' ? [strideArg] : strideArg;
      const dilations = typeof dilationArg === 'number' ? [dilationArg] : dilationArg;
      check(strides.length === dims || strides.length === 1, () => `stride cannot broadcast to ${dims} dimensions`);
      check(dilations.length === dims || dilations.length === 1, () => `dilation cannot broadcast to ${dims} dimensions`);
      for (const s of strides) check(s === 1, "padding='same' is not supported for strided convolutions");
      // Total padding d*(k-1) per dim; the odd one out goes to the right/bottom.
      const before: number[] = [];
      const after: number[] = [];
      for (let i = 0; i < dims; i++) {
        const d = dilations.length === 1 ? dilations[0]! : dilations[i]!;
        const total = d * (weightShape[i + 2]! - 1);
        before.push(Math.floor(total / 2));
        after.push(total - Math.floor(total / 2));
      }
      stringPadding = [before, after];
    } else {
      const zeros = new Array<number>(dims).fill(0);
      stringPadding = [zeros, zeros];
    }
  }

  check(weightShape.length > 2, 'weight should have at least three dimensions');
  check(groups > 0, 'non-positive groups is not supported');
  const stride = expand(fn, 'stride', strideArg, dims);
  const symmetric = typeof paddingArg === 'string' ? undefined : expand(fn, 'padding', paddingArg, dims);
  const [padBefore, padAfter] = stringPadding ?? [symmetric!, symmetric!];
  const dilation = expand(fn, 'dilation', dilationArg, dims);

  check(padBefore.every((p) => p >= 0), 'negative padding is not supported');
  check(stride.every((s) => s > 0), 'non-positive stride is not supported');
  check(dilation.every((d) => d > 0), () => `dilation should be greater than zero, but got ${formatSizes(dilation)}`);
  checkWeightAgainstGroups(input, weightShape, groups);

  const inChannels = input[1]!;
  const outChannels = weightShape[0]!;
  check(
    inChannels === weightShape[1]! * groups,
    () =>
      `Given groups=${groups}, weight of size ${formatSizes(weightShape)}, expected input${formatSizes(input)} to have ${weightShape[1]! * groups} channels, but got ${inChannels} channels instead`,
  );
  check(
    biasShape === null || (biasShape.length === 1 && biasShape[0] === outChannels),
    () =>
      `Given weight of size ${formatSizes(weightShape)}, expected bias to be 1-dimensional with ${outChannels} elements, but got bias of size ${formatSizes(biasShape ?? [])} instead`,
  );
  const padded: number[] = [];
  const kernel: number[] = [];
  for (let i = 0; i < dims; i++) {
    padded.push(input[i + 2]! + padBefore[i]! + padAfter[i]!);
    kernel.push(dilation[i]! * (weightShape[i + 2]! - 1) + 1);
  }
  check(
    padded.every((p, i) => p >= kernel[i]!),
    () =>
      `Calculated padded input size per channel: (${padded.join(' x ')}). Kernel size: (${kernel.join(' x ')}). Kernel size can't be greater than actual input size`,
  );

  const outSizes = padded.map((p, i) => Math.floor((p - kernel[i]!) / stride[i]!) + 1);
  const [inH, inW] = spatial2d(input, 2, dims);
  const [kH, kW] = spatial2d(weightShape, 2, dims);
  const [outH, outW] = dims === 1 ? [1, outSizes[0]!] : [outSizes[0]!, outSizes[1]!];
  const two = (v: number[], fill: number): [number, number] => (dims === 1 ? [fill, v[0]!] : [v[0]!, v[1]!]);
  const [sH, sW] = two(stride, 1);
  const [dH, dW] = two(dilation, 1);
  const [pT, pL] = two(padBefore, 0);
  const batch = input[0]!;
  const outputShape = [...(batched ? [batch] : []), outChannels, ...outSizes];
  return {
    spatialDims: dims,
    transposed: false,
    batched,
    batch,
    inChannels,
    outChannels,
    groups,
    inH,
    inW,
    outH,
    outW,
    map: { imageH: inH, imageW: inW, posH: outH, posW: outW, kH, kW, sH, sW, pT, pL, dH, dW },
    outputShape,
    work: batch * outChannels * outH * outW * (inChannels / groups) * kH * kW,
  };
}

/** Geometry of conv_transpose2d, with the checks of check_shape_forward and slow_conv_transpose2d. */
export function convTransposeGeometry(
  inputShape: readonly number[],
  weightShape: readonly number[],
  biasShape: readonly number[] | null,
  params: Readonly<Record<string, unknown>>,
): ConvGeometry {
  const fn = 'conv_transpose2d';
  const dims = 2;
  checkKeywords(fn, params, transposeKeywords);
  const strideArg = intsArg(fn, 'stride', params.stride, 1);
  const paddingArg = intsArg(fn, 'padding', params.padding, 0);
  const outputPaddingArg = intsArg(fn, 'output_padding', params.output_padding, 0);
  const groups = intArg(fn, 'groups', params.groups, 1);
  const dilationArg = intsArg(fn, 'dilation', params.dilation, 1);

  const batched = checkInputRank(fn, inputShape, dims);
  const input = batchify(inputShape, batched);
  check(weightShape.length > 2, 'weight should have at least three dimensions');
  check(groups > 0, 'non-positive groups is not supported');
  const stride = expand(fn, 'stride', strideArg, dims);
  const padding = expand(fn, 'padding', paddingArg, dims);
  const dilation = expand(fn, 'dilation', dilationArg, dims);
  const outputPadding = expand(fn, 'output_padding', outputPaddingArg, dims);

  check(padding.every((p) => p >= 0), 'negative padding is not supported');
  check(outputPadding.every((p) => p >= 0), 'negative output_padding is not supported');
  check(stride.every((s) => s > 0), 'non-positive stride is not supported');
  check(dilation.every((d) => d >= 0), 'dilation should be greater than zero');
  checkWeightAgainstGroups(input, weightShape, groups);

  const inChannels = input[1]!;
  const outChannels = weightShape[1]! * groups;
  check(
    inChannels === weightShape[0],
    () =>
      `Given transposed=1, weight of size ${formatSizes(weightShape)}, expected input${formatSizes(input)} to have ${weightShape[0]} channels, but got ${inChannels} channels instead`,
  );
  check(
    biasShape === null || (biasShape.length === 1 && biasShape[0] === outChannels),
    () =>
      `Given transposed=1, weight of size ${formatSizes(weightShape)}, expected bias to be 1-dimensional with ${outChannels} elements, but got bias of size ${formatSizes(biasShape ?? [])} instead`,
  );

  const [kH, kW] = [weightShape[2]!, weightShape[3]!];
  const [sH, sW] = stride as [number, number];
  const [pT, pL] = padding as [number, number];
  const [dH, dW] = dilation as [number, number];
  const [opH, opW] = outputPadding as [number, number];
  check(
    kW > 0 && kH > 0,
    () => `kernel size should be greater than zero, but got kernel_height: ${kH} kernel_width: ${kW}`,
  );
  check(
    dW > 0 && dH > 0,
    () => `dilation should be greater than zero, but got dilation_height: ${dH}, dilation_width: ${dW}`,
  );
  check(
    (opW < sW || opW < dW) && (opH < sH || opH < dH),
    () =>
      `output padding must be smaller than either stride or dilation, but got output_padding_height: ${opH} output_padding_width: ${opW} stride_height: ${sH} stride_width: ${sW} dilation_height: ${dH} dilation_width: ${dW}`,
  );
  const [inH, inW] = [input[2]!, input[3]!];
  const outH = (inH - 1) * sH - 2 * pT + (dH * (kH - 1) + 1) + opH;
  const outW = (inW - 1) * sW - 2 * pL + (dW * (kW - 1) + 1) + opW;
  check(
    outH >= 1 && outW >= 1,
    () =>
      `Given input size per channel: (${inH} x ${inW}). Calculated output size per channel: (${outH} x ${outW}). Output size is too small`,
  );
  const batch = input[0]!;
  return {
    spatialDims: 2,
    transposed: true,
    batched,
    batch,
    inChannels,
    outChannels,
    groups,
    inH,
    inW,
    outH,
    outW,
    map: { imageH: outH, imageW: outW, posH: inH, posW: inW, kH, kW, sH, sW, pT, pL, dH, dW },
    outputShape: [...(batched ? [batch] : []), outChannels, outH, outW],
    work: batch * inChannels * inH * inW * (outChannels / groups) * kH * kW,
  };
}

/** conv_transpose2d's padding is a tuple of ints: a string is a TypeError of the argument parser. */
export function rejectStringPadding(fn: string, params: Readonly<Record<string, unknown>>): void {
  if (typeof params.padding === 'string') {
    throw new KernelArgumentError(
      `${fn}(): argument 'padding' must be tuple of ints, not ${pythonTypeName(params.padding)}`,
      'TypeError',
    );
  }
}

/** First window position along an axis whose tap (position*stride + offset) is >= 0. */
function firstInside(stride: number, offset: number, positions: number): number {
  return offset >= 0 ? 0 : Math.min(positions, Math.ceil(-offset / stride));
}

/** One past the last window position whose tap is < image (never below `first`). */
function endInside(stride: number, offset: number, image: number, positions: number, first: number): number {
  const end = image - 1 - offset < 0 ? 0 : Math.floor((image - 1 - offset) / stride) + 1;
  return Math.max(first, Math.min(end, positions));
}

/**
 * Unfolds `channels` image planes starting at `src[srcOff]` into columns:
 * cols[((c*kH + ki)*kW + kj) * posH*posW + oh*posW + ow] = image tap, or 0 in the padding.
 */
export function im2col(src: FloatArray, srcOff: number, channels: number, m: WindowMap, cols: FloatArray): void {
  const { imageH, imageW, posH, posW, sH, sW } = m;
  const plane = imageH * imageW;
  const positions = posH * posW;
  let base = 0;
  for (let c = 0; c < channels; c++) {
    const planeOff = srcOff + c * plane;
    for (let ki = 0; ki < m.kH; ki++) {
      const offH = ki * m.dH - m.pT;
      const ohLo = firstInside(sH, offH, posH);
      const ohHi = endInside(sH, offH, imageH, posH, ohLo);
      for (let kj = 0; kj < m.kW; kj++) {
        const offW = kj * m.dW - m.pL;
        const owLo = firstInside(sW, offW, posW);
        const owHi = endInside(sW, offW, imageW, posW, owLo);
        if (ohLo > 0) cols.fill(0, base, base + ohLo * posW);
        for (let oh = ohLo; oh < ohHi; oh++) {
          const dst = base + oh * posW;
          const srcRow = planeOff + (oh * sH + offH) * imageW + offW;
          if (owLo > 0) cols.fill(0, dst, dst + owLo);
          if (sW === 1) {
            for (let ow = owLo; ow < owHi; ow++) cols[dst + ow] = src[srcRow + ow]!;
          } else {
            for (let ow = owLo; ow < owHi; ow++) cols[dst + ow] = src[srcRow + ow * sW]!;
          }
          if (owHi < posW) cols.fill(0, dst + owHi, dst + posW);
        }
        if (ohHi < posH) cols.fill(0, base + ohHi * posW, base + positions);
        base += positions;
      }
    }
  }
}

/**
 * The adjoint of im2col: adds every column entry back onto its image tap (padding taps dropped).
 * It walks the taps as im2col does, in its own loop nest so that the inner loops stay plain copies.
 */
export function col2im(cols: FloatArray, channels: number, m: WindowMap, dst: FloatArray, dstOff: number): void {
  const { imageH, imageW, posH, posW, sH, sW } = m;
  const plane = imageH * imageW;
  const positions = posH * posW;
  let base = 0;
  for (let c = 0; c < channels; c++) {
    const planeOff = dstOff + c * plane;
    for (let ki = 0; ki < m.kH; ki++) {
      const offH = ki * m.dH - m.pT;
      const ohLo = firstInside(sH, offH, posH);
      const ohHi = endInside(sH, offH, imageH, posH, ohLo);
      for (let kj = 0; kj < m.kW; kj++) {
        const offW = kj * m.dW - m.pL;
        const owLo = firstInside(sW, offW, posW);
        const owHi = endInside(sW, offW, imageW, posW, owLo);
        for (let oh = ohLo; oh < ohHi; oh++) {
          const from = base + oh * posW;
          const dstRow = planeOff + (oh * sH + offH) * imageW + offW;
          if (sW === 1) {
            for (let ow = owLo; ow < owHi; ow++) dst[dstRow + ow] += cols[from + ow]!;
          } else {
            for (let ow = owLo; ow < owHi; ow++) dst[dstRow + ow * sW] += cols[from + ow]!;
          }
        }
        base += positions;
      }
    }
  }
}

/** A window map whose im2col is the identity (1x1 kernel, stride 1, no padding): skip the copy. */
function isIdentityMap(m: WindowMap): boolean {
  return m.kH === 1 && m.kW === 1 && m.sH === 1 && m.sW === 1 && m.pT === 0 && m.pL === 0 && m.posH === m.imageH && m.posW === m.imageW;
}

function fillBias(out: FloatArray, bias: FloatArray, batch: number, channels: number, plane: number): void {
  let o = 0;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      out.fill(bias[c]!, o, o + plane);
      o += plane;
    }
  }
}

function sumBias(gradOutput: FloatArray, batch: number, channels: number, plane: number, into: FloatArray): void {
  const sums = new Float64Array(channels);
  let o = 0;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let i = o; i < o + plane; i++) s += gradOutput[i]!;
      sums[c] += s;
      o += plane;
    }
  }
  for (let c = 0; c < channels; c++) into[c] = sums[c]!;
}

function checkGradOutputShape(g: ConvGeometry, gradOutput: FloatTensor): void {
  const expected = g.outputShape;
  check(
    gradOutput.shape.length === expected.length && gradOutput.shape.every((d, i) => d === expected[i]),
    () => `Expected grad_output of size ${formatSizes(expected)}, but got grad_output of size ${formatSizes(gradOutput.shape)}`,
  );
}

/**
 * The float32 arrays of a product whose B is im2col's columns of `x`, and the gathered plan for
 * them; null for float64 or where gemm does not gather (the columns are then written out).
 */
function float32Columns(
  x: FloatTensor,
  w: FloatTensor,
  y: FloatTensor,
  plan: () => GatheredB | null,
): { x: Float32Array; w: Float32Array; y: Float32Array; plan: GatheredB } | null {
  if (!(x.data instanceof Float32Array && w.data instanceof Float32Array && y.data instanceof Float32Array)) return null;
  const p = plan();
  return p && { x: x.data, w: w.data, y: y.data, plan: p };
}

/** Forward of conv1d/conv2d: per image and group, output = W_g · im2col(x_g) (+ bias). */
export function convForward(g: ConvGeometry, input: FloatTensor, weight: FloatTensor, bias: FloatTensor | null): FloatTensor {
  const dtype = sameDtype(input, weight, bias);
  const out = zerosFloat(dtype, g.outputShape);
  const { map, groups, batch } = g;
  const cg = g.inChannels / groups;
  const og = g.outChannels / groups;
  const kdim = cg * map.kH * map.kW;
  const positions = g.outH * g.outW;
  const inPlane = g.inH * g.inW;
  if (numel(g.outputShape) === 0) return out;
  if (bias) fillBias(out.data, bias.data, batch, g.outChannels, positions);
  const direct = isIdentityMap(map);
  const gathered = direct ? null : float32Columns(input, weight, out, () => forwardColumns(map, cg, og));
  if (gathered) {
    const { x, w, y, plan } = gathered;
    for (let n = 0; n < batch; n++) {
      for (let grp = 0; grp < groups; grp++) {
        gemmGathered(false, og, w, grp * og * kdim, kdim, plan, x, (n * g.inChannels + grp * cg) * inPlane,
          bias ? 1 : 0, y, (n * g.outChannels + grp * og) * positions, positions);
      }
    }
    return out;
  }
  const cols = direct ? input.data : allocate(dtype, kdim * positions);
  for (let n = 0; n < batch; n++) {
    for (let grp = 0; grp < groups; grp++) {
      const inOff = (n * g.inChannels + grp * cg) * inPlane;
      if (!direct) im2col(input.data, inOff, cg, map, cols);
      gemm(false, false, og, positions, kdim, 1, weight.data, grp * og * kdim, kdim, cols, direct ? inOff : 0, positions,
        bias ? 1 : 0, out.data, (n * g.outChannels + grp * og) * positions, positions);
    }
  }
  return out;
}

/** Backward of conv1d/conv2d: grad_weight += gO · colsᵀ, grad_input = col2im(Wᵀ · gO). */
export function convBackward(
  g: ConvGeometry,
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
): ConvGradients {
  const { grad_input, ...rest } = convGradients(g, gradOutput, input, weight, hasBias, true);
  return { grad_input: grad_input!, ...rest };
}

/** The parameter gradients only: what a network's first layer needs (its input needs no gradient). */
export function convWeightBackward(
  g: ConvGeometry,
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
): Omit<ConvGradients, 'grad_input'> {
  const { grad_input: _none, ...rest } = convGradients(g, gradOutput, input, weight, hasBias, false);
  return rest;
}

function convGradients(
  g: ConvGeometry,
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
  withInput: boolean,
): Partial<ConvGradients> & { grad_weight: FloatTensor } {
  const dtype = sameDtype(input, weight, gradOutput);
  checkGradOutputShape(g, gradOutput);
  const gradInput = withInput ? zerosFloat(dtype, input.shape) : undefined;
  const gradWeight = zerosFloat(dtype, weight.shape);
  const gradBias = hasBias ? zerosFloat(dtype, [g.outChannels]) : undefined;
  const { map, groups, batch } = g;
  const cg = g.inChannels / groups;
  const og = g.outChannels / groups;
  const kdim = cg * map.kH * map.kW;
  const positions = g.outH * g.outW;
  const inPlane = g.inH * g.inW;
  const gO = gradOutput.data;
  if (positions > 0 && batch > 0) {
    const direct = isIdentityMap(map);
    const gathered = direct ? null : float32Columns(input, gradOutput, gradWeight, () => weightColumns(map, cg, og));
    const cols = direct ? input.data : gathered ? null : allocate(dtype, kdim * positions);
    // Float32 all through (sameDtype above): the input's gradient can skip its columns as well.
    const scatteredPlan = gradInput && gathered ? inputColumns(map, cg, og) : null;
    const scattered = scatteredPlan && {
      plan: scatteredPlan,
      w: weight.data as Float32Array,
      gO: gathered!.w,
      dst: gradInput!.data as Float32Array,
    };
    const gradCols = !gradInput || scattered ? undefined : direct ? gradInput.data : allocate(dtype, kdim * positions);
    for (let n = 0; n < batch; n++) {
      for (let grp = 0; grp < groups; grp++) {
        const inOff = (n * g.inChannels + grp * cg) * inPlane;
        const gOff = (n * g.outChannels + grp * og) * positions;
        const wOff = grp * og * kdim;
        if (gathered) {
          gemmGathered(false, og, gathered.w, gOff, positions, gathered.plan, gathered.x, inOff, 1, gathered.y, wOff, kdim);
        } else {
          if (!direct) im2col(input.data, inOff, cg, map, cols!);
          gemm(false, true, og, kdim, positions, 1, gO, gOff, positions, cols!, direct ? inOff : 0, positions,
            1, gradWeight.data, wOff, kdim);
        }
        if (scattered) {
          gemmScattered(true, false, og, scattered.w, wOff, kdim, scattered.gO, gOff, positions, scattered.plan, scattered.dst, inOff);
        } else if (gradInput && gradCols) {
          gemm(true, false, kdim, positions, og, 1, weight.data, wOff, kdim, gO, gOff, positions,
            0, gradCols, direct ? inOff : 0, positions);
          if (!direct) col2im(gradCols, cg, map, gradInput.data, inOff);
        }
      }
    }
    if (gradBias) sumBias(gO, batch, g.outChannels, positions, gradBias.data);
  }
  return {
    ...(gradInput ? { grad_input: gradInput } : {}),
    grad_weight: gradWeight,
    ...(gradBias ? { grad_bias: gradBias } : {}),
  };
}

/** Forward of conv_transpose2d: per image and group, output = col2im(W_gᵀ · x_g) (+ bias). */
export function convTransposeForward(
  g: ConvGeometry,
  input: FloatTensor,
  weight: FloatTensor,
  bias: FloatTensor | null,
): FloatTensor {
  const dtype = sameDtype(input, weight, bias);
  const out = zerosFloat(dtype, g.outputShape);
  const { map, groups, batch } = g;
  const cg = g.inChannels / groups;
  const og = g.outChannels / groups;
  const kt = og * map.kH * map.kW;
  const positions = g.inH * g.inW;
  const outPlane = g.outH * g.outW;
  if (numel(g.outputShape) === 0) return out;
  if (bias) fillBias(out.data, bias.data, batch, g.outChannels, outPlane);
  const cols = allocate(dtype, kt * positions);
  for (let n = 0; n < batch; n++) {
    for (let grp = 0; grp < groups; grp++) {
      const inOff = (n * g.inChannels + grp * cg) * positions;
      gemm(true, false, kt, positions, cg, 1, weight.data, grp * cg * kt, kt, input.data, inOff, positions, 0, cols, 0, positions);
      col2im(cols, og, map, out.data, (n * g.outChannels + grp * og) * outPlane);
    }
  }
  return out;
}

/** Backward of conv_transpose2d: grad_input = W_g · im2col(gO), grad_weight += x_g · im2col(gO)ᵀ. */
export function convTransposeBackward(
  g: ConvGeometry,
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
): ConvGradients {
  const dtype = sameDtype(input, weight, gradOutput);
  checkGradOutputShape(g, gradOutput);
  const gradInput = zerosFloat(dtype, input.shape);
  const gradWeight = zerosFloat(dtype, weight.shape);
  const gradBias = hasBias ? zerosFloat(dtype, [g.outChannels]) : undefined;
  const { map, groups, batch } = g;
  const cg = g.inChannels / groups;
  const og = g.outChannels / groups;
  const kt = og * map.kH * map.kW;
  const positions = g.inH * g.inW;
  const outPlane = g.outH * g.outW;
  if (positions > 0 && batch > 0) {
    const cols = allocate(dtype, kt * positions);
    for (let n = 0; n < batch; n++) {
      for (let grp = 0; grp < groups; grp++) {
        const inOff = (n * g.inChannels + grp * cg) * positions;
        const wOff = grp * cg * kt;
        im2col(gradOutput.data, (n * g.outChannels + grp * og) * outPlane, og, map, cols);
        gemm(false, false, cg, positions, kt, 1, weight.data, wOff, kt, cols, 0, positions, 0, gradInput.data, inOff, positions);
        gemm(false, true, cg, kt, positions, 1, input.data, inOff, positions, cols, 0, positions, 1, gradWeight.data, wOff, kt);
      }
    }
    if (gradBias) sumBias(gradOutput.data, batch, g.outChannels, outPlane, gradBias.data);
  }
  return { grad_input: gradInput, grad_weight: gradWeight, ...(gradBias ? { grad_bias: gradBias } : {}) };
}
