/**
 * lp_pool1d/2d and their backward, built the way torch.nn.functional (1.13.1) builds them:
 *
 *   out = avg_pool(x ** p, kernel, stride, padding=0, ceil_mode)        (count_include_pad=True)
 *   y   = (sign(out) * relu(abs(out))).mul(K) ** (1 / p)                K = kernel size or kH * kW
 *
 * So there is no abs on x (p = 1 is a signed sum; odd p with a negative sum gives NaN), and a
 * ceil-mode window that hangs over the edge is averaged over its in-bounds cells, then multiplied
 * by the full K. Each step rounds to the input's precision, as PyTorch's float32 ops do, and the
 * backward follows autograd through the same steps.
 */
import type { OpSpec } from '../registry.js';
import { allocate } from '../storage.js';
import { KernelArgumentError } from '../errors.js';
import { numel, type FloatArray, type FloatTensor } from '../tensor.js';
import { avgPoolBackward, avgPoolForward, avgPoolWork, lpAvgPoolArgs, planAvgPool, type AvgPoolPlan } from './avg_pool.js';
import {
  checkKeywords,
  dtypeOf,
  floatTensor,
  gradOutputFor,
  readBool,
  readIntList,
  readNumber,
  readStride,
  required,
  roundingOf,
  typeError,
  type Options,
} from './pool_args.js';
import { floatPoolOp } from './pool_op.js';

export interface LpPoolOptions {
  norm_type: number;
  kernel_size: number | number[];
  stride?: number | number[] | null;
  ceil_mode?: boolean;
}

type LpPoolName = 'lp_pool1d' | 'lp_pool2d';

interface LpPoolPlan {
  readonly avg: AvgPoolPlan;
  readonly normType: number;
  /** The K the average is multiplied by: kernel_size, or kw * kh. */
  readonly kernelVolume: number;
}

const keywords = ['norm_type', 'kernel_size', 'stride', 'ceil_mode'];

/** The Python wrapper's steps in order: lp_pool2d unpacks the kernel first, then avg_pool checks, then the arithmetic. */
function planLpPool(fn: LpPoolName, shape: readonly number[], options: Options): LpPoolPlan {
  checkKeywords(fn, options, keywords);
  const normType = readNumber(fn, 'norm_type', required(fn, 'norm_type', options['norm_type']));
  const kernelSize = required(fn, 'kernel_size', options['kernel_size']);
  const kernel = readIntList(fn, 'kernel_size', kernelSize);
  if (fn === 'lp_pool2d' && Array.isArray(kernelSize) && kernel.length !== 2) {
    // `kw, kh = _pair(kernel_size)`
    throw new KernelArgumentError(
      kernel.length < 2 ? `not enough values to unpack (expected 2, got ${kernel.length})` : 'too many values to unpack (expected 2)',
      'ValueError',
    );
  }
  const stride = readStride(fn, options['stride']);
  const ceilMode = readBool(fn, 'ceil_mode', options['ceil_mode'], false);
  const avg = planAvgPool(fn === 'lp_pool1d' ? 'avg_pool1d' : 'avg_pool2d', shape, lpAvgPoolArgs(kernel, stride, ceilMode));
  if (fn === 'lp_pool1d' && Array.isArray(kernelSize)) {
    // lp_pool1d multiplies by kernel_size itself, which must therefore be an int.
    throw typeError(`mul(): argument 'other' (position 1) must be Tensor, not tuple`);
  }
  if (normType === 0) throw new KernelArgumentError('float division by zero', 'ZeroDivisionError');
  const kernelVolume = fn === 'lp_pool1d' ? kernel[0] : kernel.length === 1 ? kernel[0] * kernel[0] : kernel[0] * kernel[1];
  return { avg, normType, kernelVolume };
}

/**
 * `tensor.pow(scalar)` as ATen computes it: exponents 0 and 1 are exact, and 0.5, -0.5, -1, 2, 3
 * and -2 are the special kernels sqrt, rsqrt, reciprocal, x*x, x*x*x and 1/(x*x), each op
 * rounded to the dtype. Other exponents use pow, which PyTorch vectorises (within an ulp of this).
 */
function powScalar(x: number, exponent: number, round: (v: number) => number): number {
  if (exponent === 0) return 1;
  if (exponent === 1) return x;
  if (exponent === 0.5) return round(Math.sqrt(x));
  if (exponent === -0.5) return round(1 / round(Math.sqrt(x)));
  if (exponent === -1) return round(1 / x);
  if (exponent === 2) return round(x * x);
  if (exponent === 3) return round(round(x * x) * x);
  if (exponent === -2) return round(1 / round(x * x));
  return round(Math.pow(x, exponent));
}

/** torch.sign: NaN gives 0 (both comparisons are false). */
function sign(x: number): number {
  return x > 0 ? 1 : x < 0 ? -1 : 0;
}

/** The average of x ** p over each window: the `out` of the formula above. */
function pooledPowers(x: FloatArray, plan: LpPoolPlan): FloatArray {
  const round = roundingOf(x);
  const powers = allocate(dtypeOf(x), x.length);
  for (let i = 0; i < x.length; i++) powers[i] = powScalar(x[i], plan.normType, round);
  const pooled = allocate(dtypeOf(x), numel(plan.avg.geometry.outputShape));
  avgPoolForward(powers, plan.avg, pooled);
  return pooled;
}

function lpPoolForward(x: FloatArray, plan: LpPoolPlan): FloatArray {
  const round = roundingOf(x);
  const pooled = pooledPowers(x, plan);
  const output = allocate(dtypeOf(x), pooled.length);
  const root = 1 / plan.normType;
  for (let o = 0; o < pooled.length; o++) {
    const out = pooled[o];
    // sign(out) * relu(abs(out)) is out itself, except that -0 becomes 0 and NaN stays NaN.
    const signed = sign(out) * Math.max(Math.abs(out), 0);
    output[o] = powScalar(round(signed * plan.kernelVolume), root, round);
  }
  return output;
}

/**
 * Autograd through the forward's steps. pow's gradient is `grad * (e * x ** (e - 1))` (zero when
 * e = 0); mul by K gives `grad * K`; through sign(out) * relu(abs(out)) the gradient is
 * `grad * sign(out)`, zeroed where relu's result is <= 0, times sign(out) again. The last step is
 * why an all-zero window gets gradient 0 rather than 0 * inf.
 */
function lpPoolBackwardLoop(x: FloatArray, gradOutput: FloatArray, plan: LpPoolPlan, gradInput: FloatArray): void {
  const round = roundingOf(x);
  const dtype = dtypeOf(x);
  const pooled = pooledPowers(x, plan);
  const root = 1 / plan.normType;
  const gradPooled = allocate(dtype, pooled.length);
  for (let o = 0; o < pooled.length; o++) {
    const out = pooled[o];
    const relu = Math.max(Math.abs(out), 0);
    const scaled = round(sign(out) * relu * plan.kernelVolume);
    const gradScaled = root === 0 ? 0 : round(gradOutput[o] * round(round(root) * powScalar(scaled, root - 1, round)));
    const gradSigned = round(gradScaled * plan.kernelVolume);
    const gradRelu = relu <= 0 ? 0 : round(gradSigned * sign(out));
    gradPooled[o] = round(gradRelu * sign(out));
  }
  const gradPowers = allocate(dtype, x.length);
  avgPoolBackward(gradPooled, plan.avg, gradPowers);
  const p = plan.normType;
  for (let i = 0; i < x.length; i++) {
    gradInput[i] = round(gradPowers[i] * round(round(p) * powScalar(x[i], p - 1, round)));
  }
}

function lpPool(fn: LpPoolName, input: FloatTensor, options: LpPoolOptions): FloatTensor {
  const x = floatTensor(fn, 'input', input);
  const plan = planLpPool(fn, x.shape, options as unknown as Options);
  return { shape: plan.avg.geometry.outputShape, dtype: x.dtype, data: lpPoolForward(x.data, plan) };
}

function lpPoolGrad(fn: LpPoolName, gradOutput: FloatTensor, input: FloatTensor, options: LpPoolOptions): FloatTensor {
  const x = floatTensor(fn, 'input', input);
  const plan = planLpPool(fn, x.shape, options as unknown as Options);
  const grad = gradOutputFor(fn, gradOutput, plan.avg.geometry.outputShape, x);
  const gradInput = allocate(x.dtype, x.data.length);
  lpPoolBackwardLoop(x.data, grad.data, plan, gradInput);
  return { shape: [...x.shape], dtype: x.dtype, data: gradInput };
}

export function lpPool1d(input: FloatTensor, opts: LpPoolOptions): FloatTensor {
  return lpPool('lp_pool1d', input, opts);
}

export function lpPool2d(input: FloatTensor, opts: LpPoolOptions): FloatTensor {
  return lpPool('lp_pool2d', input, opts);
}

export function lpPool1dBackward(gradOutput: FloatTensor, input: FloatTensor, opts: LpPoolOptions): FloatTensor {
  return lpPoolGrad('lp_pool1d', gradOutput, input, opts);
}

export function lpPool2dBackward(gradOutput: FloatTensor, input: FloatTensor, opts: LpPoolOptions): FloatTensor {
  return lpPoolGrad('lp_pool2d', gradOutput, input, opts);
}

function lpPoolOp(fn: LpPoolName, dims: string): OpSpec {
  return floatPoolOp({
    name: fn,
    summary: `${dims} power-average (LP) pooling (torch.nn.functional.${fn})`,
    plan(shape, params) {
      const plan = planLpPool(fn, shape, params);
      return { outputShape: plan.avg.geometry.outputShape, work: avgPoolWork(plan.avg) };
    },
    forward: (input, params) => lpPool(fn, input, params as unknown as LpPoolOptions),
    backward: (gradOutput, input, params) => lpPoolGrad(fn, gradOutput, input, params as unknown as LpPoolOptions),
  });
}

export const lpPoolOps: OpSpec[] = [lpPoolOp('lp_pool1d', '1d'), lpPoolOp('lp_pool2d', '2d')];
