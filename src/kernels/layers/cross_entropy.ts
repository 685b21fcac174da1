/**
 * torch.nn.functional.cross_entropy with class-index targets: log_softmax over the class dim
 * followed by the negative log likelihood, with optional class weights, `ignore_index` and
 * label smoothing, and its gradient with respect to the logits.
 *
 * With smoothing ε over C classes (PyTorch's cross_entropy_loss_label_smoothing):
 *   loss = (1-ε) · nll + ε/C · smooth,   smooth_i = Σ_c w_c · (-log p_i[c])
 * where the 'mean' reduction divides both terms by Σ_i w[t_i] (by the count of targets when
 * unweighted). Input (C) with target (), (N, C) with (N), or (N, C, d1, ...) with (N, d1, ...).
 */
import { KernelArgumentError, check, formatSizes } from '../errors.js';
import type { OpSpec, Params, Shapes } from '../registry.js';
import { allocate } from '../storage.js';
import type { FloatTensor, IntTensor, Tensor } from '../tensor.js';
import { checkKeywords, floatArg, formatDouble, intArg, pythonTypeName, required, sameDtype, tensorOf } from './args.js';

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  weight?: FloatTensor | null;
  reduction?: Reduction;
  label_smoothing?: number;
  ignore_index?: number;
}

interface Geometry {
  /** Target positions: batch times the extra dims. */
  samples: number;
  classes: number;
  /** Distance between two classes of one sample (the product of the extra dims). */
  classStride: number;
  /** Shape of the per-sample losses (the target's shape). */
  lossShape: number[];
}

interface Settings {
  reduction: Reduction;
  labelSmoothing: number;
  ignoreIndex: number;
}

function settings(params: Params): Settings {
  const fn = 'cross_entropy';
  checkKeywords(fn, params, ['weight', 'reduction', 'label_smoothing', 'ignore_index']);
  const reduction = params.reduction ?? 'mean';
  if (typeof reduction !== 'string') {
    throw new KernelArgumentError(`${fn}(): argument 'reduction' must be str, not ${pythonTypeName(reduction)}`, 'TypeError');
  }
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new KernelArgumentError(`${reduction} is not a valid value for reduction`, 'ValueError');
  }
  const labelSmoothing = floatArg(fn, 'label_smoothing', params.label_smoothing, 0);
  const ignoreIndex = intArg(fn, 'ignore_index', params.ignore_index, -100);
  check(
    labelSmoothing >= 0 && labelSmoothing <= 1,
    () => `label_smoothing must be between 0.0 and 1.0. Got: ${formatDouble(labelSmoothing)}`,
  );
  return { reduction, labelSmoothing, ignoreIndex };
}

function geometry(input: readonly number[], target: readonly number[], weight: readonly number[] | null): Geometry {
  if (input.length === 0) throw new KernelArgumentError('Expected 1 or more dimensions (got 0)', 'ValueError');
  if (input.length !== 1 && input[0] !== target[0]) {
    throw new KernelArgumentError(
      `Expected input batch_size (${input[0]}) to match target batch_size (${target[0]}).`,
      'ValueError',
    );
  }
  const classes = input.length === 1 ? input[0]! : input[1]!;
  check(
    weight === null || (weight.length === 1 && weight[0] === classes),
    () =>
      `weight tensor should be defined either for all ${classes} classes or no classes but got weight tensor of shape: ${formatSizes(weight!)}`,
  );
  if (input.length === 1) {
    check(target.length === 0, () => `size mismatch (got input: ${formatSizes(input)}, target: ${formatSizes(target)})`);
    return { samples: 1, classes, classStride: 1, lossShape: [] };
  }
  if (input.length === 2) {
    check(target.length === 1, '0D or 1D target tensor expected, multi-target not supported');
    return { samples: input[0]!, classes, classStride: 1, lossShape: [input[0]!] };
  }
  const expected = [input[0]!, ...input.slice(2)];
  check(
    target.length === expected.length && target.every((d, i) => d === expected[i]),
    () => `Expected target size ${formatSizes(expected)}, got ${formatSizes(target)}`,
  );
  let classStride = 1;
  for (let i = 2; i < input.length; i++) classStride *= input[i]!;
  return { samples: input[0]! * classStride, classes, classStride, lossShape: expected };
}

/** Offset of class 0 of sample p in the input. */
function sampleBase(g: Geometry, p: number): number {
  const n = Math.floor(p / g.classStride);
  return n * g.classes * g.classStride + (p - n * g.classStride);
}

/** log-softmax of one sample's logits into `logp` (double precision). */
function logSoftmaxOf(x: ArrayLike<number>, base: number, g: Geometry, logp: Float64Array): void {
  let max = -Infinity;
  for (let c = 0, at = base; c < g.classes; c++, at += g.classStride) if (x[at]! > max) max = x[at]!;
  let sum = 0;
  for (let c = 0, at = base; c < g.classes; c++, at += g.classStride) sum += Math.exp(x[at]! - max);
  const shift = max + Math.log(sum);
  for (let c = 0, at = base; c < g.classes; c++, at += g.classStride) logp[c] = x[at]! - shift;
}

function checkTarget(t: number, g: Geometry): void {
  if (t < 0 || t >= g.classes) throw new KernelArgumentError(`Target ${t} is out of bounds.`, 'IndexError');
}

/** Σ_i w[t_i] (or the count of non-ignored targets), which 'mean' divides by. */
function meanDenominators(target: Int32Array, weight: ArrayLike<number> | null, s: Settings, g: Geometry) {
  let weightSum = 0;
  let count = 0;
  for (let p = 0; p < g.samples; p++) {
    const t = target[p]!;
    if (t === s.ignoreIndex) continue;
    checkTarget(t, g);
    weightSum += weight ? weight[t]! : 1;
    count++;
  }
  return { nll: weightSum, smooth: weight ? weightSum : count };
}

function run(input: FloatTensor, target: IntTensor, weight: FloatTensor | null, s: Settings): FloatTensor {
  const g = geometry(input.shape, target.shape, weight?.shape ?? null);
  const dtype = sameDtype(input, weight);
  const w = weight?.data ?? null;
  const x = input.data;
  const logp = new Float64Array(g.classes);
  const eps = s.labelSmoothing;
  const losses = new Float64Array(g.samples);
  let nllSum = 0;
  let smoothSum = 0;
  for (let p = 0; p < g.samples; p++) {
    const t = target.data[p]!;
    if (t === s.ignoreIndex) continue;
    checkTarget(t, g);
    logSoftmaxOf(x, sampleBase(g, p), g, logp);
    const nll = -(w ? w[t]! : 1) * logp[t]!;
    let smooth = 0;
    // Only a positive ε computes the smoothing term: -inf logits would otherwise give 0 * inf.
    if (eps > 0) for (let c = 0; c < g.classes; c++) smooth -= (w ? w[c]! : 1) * logp[c]!;
    nllSum += nll;
    smoothSum += smooth;
    losses[p] = eps > 0 ? (1 - eps) * nll + (eps / g.classes) * smooth : nll;
  }
  if (s.reduction === 'none') {
    const out = allocate(dtype, g.samples);
    out.set(losses);
    return tensorOf(dtype, g.lossShape, out);
  }
  let loss: number;
  if (s.reduction === 'sum') {
    loss = eps > 0 ? (1 - eps) * nllSum + (eps / g.classes) * smoothSum : nllSum;
  } else {
    const d = meanDenominators(target.data, w, s, g);
    loss = eps > 0 ? (1 - eps) * (nllSum / d.nll) + (eps / g.classes) * (smoothSum / d.smooth) : nllSum / d.nll;
  }
  const out = allocate(dtype, 1);
  out[0] = loss;
  return tensorOf(dtype, [], out);
}

/**
 * d loss_i / d x_k = (1-ε)·a_i·(p_k - [k = t_i]) + ε/C·b_i·(W·p_k - w_k), with W = Σ_c w_c, where
 * a_i, b_i are the reduction's weights of sample i in the two terms.
 */
function runBackward(gradOutput: FloatTensor, input: FloatTensor, target: IntTensor, weight: FloatTensor | null, s: Settings): FloatTensor {
  const g = geometry(input.shape, target.shape, weight?.shape ?? null);
  const dtype = sameDtype(input, weight, gradOutput);
  const expectedGrad = s.reduction === 'none' ? g.lossShape : [];
  check(
    gradOutput.data.length === (s.reduction === 'none' ? g.samples : 1),
    () => `Expected grad_output of size ${formatSizes(expectedGrad)}, but got grad_output of size ${formatSizes(gradOutput.shape)}`,
  );
  const w = weight?.data ?? null;
  const x = input.data;
  const eps = s.labelSmoothing;
  let classWeightSum = g.classes;
  if (w) {
    classWeightSum = 0;
    for (let c = 0; c < g.classes; c++) classWeightSum += w[c]!;
  }
  let nllScale = 1;
  let smoothScale = 1;
  if (s.reduction === 'mean') {
    const d = meanDenominators(target.data, w, s, g);
    nllScale = 1 / d.nll;
    smoothScale = 1 / d.smooth;
  }
  const out = allocate(dtype, x.length);
  const logp = new Float64Array(g.classes);
  for (let p = 0; p < g.samples; p++) {
    const t = target.data[p]!;
    if (t === s.ignoreIndex) continue;
    checkTarget(t, g);
    const base = sampleBase(g, p);
    logSoftmaxOf(x, base, g, logp);
    const go = s.reduction === 'none' ? gradOutput.data[p]! : gradOutput.data[0]!;
    const a = (1 - eps) * nllScale * (w ? w[t]! : 1) * go;
    const b = (eps / g.classes) * smoothScale * go;
    for (let c = 0, at = base; c < g.classes; c++, at += g.classStride) {
      const prob = Math.exp(logp[c]!);
      let grad = a * (prob - (c === t ? 1 : 0));
      if (eps > 0) grad += b * (classWeightSum * prob - (w ? w[c]! : 1));
      out[at] = grad;
    }
  }
  return tensorOf(dtype, input.shape, out);
}

function withDefaults(opts: CrossEntropyOptions): Settings {
  const { weight: _weight, ...rest } = opts;
  return settings(rest);
}

export function crossEntropy(input: FloatTensor, target: IntTensor, opts: CrossEntropyOptions = {}): FloatTensor {
  return run(input, target, opts.weight ?? null, withDefaults(opts));
}

export function crossEntropyBackward(
  gradOutput: FloatTensor,
  input: FloatTensor,
  target: IntTensor,
  opts: CrossEntropyOptions = {},
): FloatTensor {
  return runBackward(gradOutput, input, target, opts.weight ?? null, withDefaults(opts));
}

function intTarget(tensors: Readonly<Record<string, Tensor>>): IntTensor {
  return required('cross_entropy', tensors, 'target') as IntTensor;
}

export const crossEntropyOp: OpSpec = {
  name: 'cross_entropy',
  summary: 'Cross-entropy loss between logits and class-index targets, as torch.nn.functional.cross_entropy',
  tensorArgs: [
    { name: 'input', kind: 'float' },
    { name: 'target', kind: 'int64' },
    { name: 'weight', kind: 'float', optional: true },
  ],
  gradients: ['grad_input'],
  plan(shapes: Shapes, params) {
    const s = settings(params);
    const input = required('cross_entropy', shapes, 'input');
    const g = geometry(input, required('cross_entropy', shapes, 'target'), shapes.weight ?? null);
    return { outputs: { output: s.reduction === 'none' ? g.lossShape : [] }, work: 3 * g.samples * g.classes };
  },
  forward(tensors, params) {
    const input = required('cross_entropy', tensors, 'input') as FloatTensor;
    const weight = (tensors.weight as FloatTensor | undefined) ?? null;
    return { output: run(input, intTarget(tensors), weight, settings(params)) };
  },
  backward(tensors, params) {
    const input = required('cross_entropy', tensors, 'input') as FloatTensor;
    const weight = (tensors.weight as FloatTensor | undefined) ?? null;
    const gradOutput = required('cross_entropy', tensors, 'grad_output') as FloatTensor;
    return { grad_input: runBackward(gradOutput, input, intTarget(tensors), weight, settings(params)) };
  },
};
