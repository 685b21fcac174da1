/**
 * torch.nn.functional.softmax and log_softmax along one dim, with their backward. Each slice is
 * shifted by its max (so large logits do not overflow) and summed in double precision. A slice
 * of all -inf gives NaN, as in PyTorch (-inf - -inf).
 */
import { check, formatSizes } from '../errors.js';
import type { OpSpec, Params } from '../registry.js';
import { allocate } from '../storage.js';
import { numel, type FloatArray, type FloatTensor } from '../tensor.js';
import { checkKeywords, floatTensor, intArg, sameDtype, tensorOf, wrapDim } from './args.js';

export interface SoftmaxOptions {
  dim: number;
}

/** The tensor seen as [outer, size, inner] around the reduced dim. */
interface Slices {
  outer: number;
  size: number;
  inner: number;
}

function slices(shape: readonly number[], dim: number): Slices {
  const d = wrapDim(dim, shape.length);
  if (shape.length === 0) return { outer: 1, size: 1, inner: 1 };
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < d; i++) outer *= shape[i]!;
  for (let i = d + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, size: shape[d]!, inner };
}

/** F.softmax's `dim=None` fallback (_get_softmax_dim): dim 0 for 0-, 1- and 3-d inputs, else 1. */
function resolveDim(fn: string, shape: readonly number[], params: Params): number {
  checkKeywords(fn, params, ['dim']);
  if (params.dim === undefined || params.dim === null) return [0, 1, 3].includes(shape.length) ? 0 : 1;
  return intArg(fn, 'dim', params.dim, 0);
}

function forward(input: FloatTensor, dim: number, log: boolean): FloatTensor {
  const { outer, size, inner } = slices(input.shape, dim);
  const x = input.data;
  const out = allocate(input.dtype, x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let max = -Infinity;
      for (let k = 0, at = base; k < size; k++, at += inner) if (x[at]! > max) max = x[at]!;
      let sum = 0;
      for (let k = 0, at = base; k < size; k++, at += inner) sum += Math.exp(x[at]! - max);
      if (log) {
        const shift = max + Math.log(sum);
        for (let k = 0, at = base; k < size; k++, at += inner) out[at] = x[at]! - shift;
      } else {
        for (let k = 0, at = base; k < size; k++, at += inner) out[at] = Math.exp(x[at]! - max) / sum;
      }
    }
  }
  return tensorOf(input.dtype, input.shape, out);
}

/** softmax: g_in = y * (g - Σ g·y); log_softmax: g_in = g - exp(y) * Σ g. */
function backward(gradOutput: FloatTensor, output: FloatTensor, dim: number, log: boolean): FloatTensor {
  sameDtype(output, gradOutput);
  check(
    gradOutput.data.length === output.data.length,
    () => `Expected grad_output of size ${formatSizes(output.shape)}, but got grad_output of size ${formatSizes(gradOutput.shape)}`,
  );
  const { outer, size, inner } = slices(output.shape, dim);
  const y = output.data;
  const g = gradOutput.data;
  const out: FloatArray = allocate(output.dtype, y.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let sum = 0;
      if (log) {
        for (let k = 0, at = base; k < size; k++, at += inner) sum += g[at]!;
        for (let k = 0, at = base; k < size; k++, at += inner) out[at] = g[at]! - Math.exp(y[at]!) * sum;
      } else {
        for (let k = 0, at = base; k < size; k++, at += inner) sum += g[at]! * y[at]!;
        for (let k = 0, at = base; k < size; k++, at += inner) out[at] = y[at]! * (g[at]! - sum);
      }
    }
  }
  return tensorOf(output.dtype, output.shape, out);
}

export function softmax(input: FloatTensor, opts: SoftmaxOptions): FloatTensor {
  return forward(input, opts.dim, false);
}

export function softmaxBackward(gradOutput: FloatTensor, output: FloatTensor, opts: SoftmaxOptions): FloatTensor {
  return backward(gradOutput, output, opts.dim, false);
}

export function logSoftmax(input: FloatTensor, opts: SoftmaxOptions): FloatTensor {
  return forward(input, opts.dim, true);
}

export function logSoftmaxBackward(gradOutput: FloatTensor, output: FloatTensor, opts: SoftmaxOptions): FloatTensor {
  return backward(gradOutput, output, opts.dim, true);
}

function softmaxSpec(name: 'softmax' | 'log_softmax', log: boolean): OpSpec {
  return {
    name,
    summary: log
      ? 'Logarithm of softmax along a dim, computed stably, as torch.nn.functional.log_softmax'
      : 'Softmax along a dim (exp(x) normalised to sum 1), as torch.nn.functional.softmax',
    tensorArgs: [{ name: 'input', kind: 'float' }],
    gradients: ['grad_input'],
    plan(shapes, params) {
      const input = shapes.input ?? [];
      wrapDim(resolveDim(name, input, params), input.length);
      return { outputs: { output: [...input] }, work: 3 * numel(input) };
    },
    forward(tensors, params) {
      const input = floatTensor(name, tensors, 'input');
      return { output: forward(input, resolveDim(name, input.shape, params), log) };
    },
    backward(tensors, params) {
      const input = floatTensor(name, tensors, 'input');
      const dim = resolveDim(name, input.shape, params);
      const output = forward(input, dim, log);
      return { grad_input: backward(floatTensor(name, tensors, 'grad_output'), output, dim, log) };
    },
  };
}

export const softmaxOp = softmaxSpec('softmax', false);
export const logSoftmaxOp = softmaxSpec('log_softmax', true);
