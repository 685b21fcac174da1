/**
 * torch.nn.functional.dropout with a seeded generator: in training each element is kept with
 * probability 1-p and scaled by 1/(1-p). p = 0 or training=false is the identity; p = 1 multiplies
 * by zero (NaN stays NaN). The mask holds the factor each element was multiplied by, so the
 * backward is grad_output · mask. The generator (mulberry32) is not PyTorch's: masks are
 * reproducible from the seed here, not bit-equal to torch's.
 */
import { KernelArgumentError, check } from '../errors.js';
import type { OpSpec, Params } from '../registry.js';
import { allocate } from '../storage.js';
import { numel, type FloatTensor } from '../tensor.js';
import { boolArg, checkKeywords, floatArg, floatTensor, formatDouble, intArg, sameDtype, tensorOf } from './args.js';

export interface DropoutOptions {
  p?: number;
  training?: boolean;
  /** Seed of the mask's generator; omitted, a fresh random seed is drawn. */
  seed?: number;
}

interface Settings {
  p: number;
  training: boolean;
  seed: number | undefined;
}

function settings(params: Params): Settings {
  const fn = 'dropout';
  checkKeywords(fn, params, ['p', 'training', 'seed', 'inplace']);
  const p = floatArg(fn, 'p', params.p, 0.5);
  if (!(p >= 0 && p <= 1)) {
    throw new KernelArgumentError(`dropout probability has to be between 0 and 1, but got ${formatDouble(p)}`, 'ValueError');
  }
  return {
    p,
    training: boolArg(fn, 'training', params.training, true),
    seed: params.seed === undefined ? undefined : intArg(fn, 'seed', params.seed, 0),
  };
}

/** mulberry32: a small, well-mixed 32-bit generator giving uniforms in [0, 1). */
function uniforms(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeMask(input: FloatTensor, s: Settings): FloatTensor {
  const mask = allocate(input.dtype, input.data.length);
  if (!s.training || s.p === 0) mask.fill(1);
  else if (s.p < 1) {
    const next = uniforms(s.seed ?? Math.floor(Math.random() * 4294967296));
    const keep = 1 - s.p;
    const scale = 1 / keep;
    for (let i = 0; i < mask.length; i++) mask[i] = next() < keep ? scale : 0;
  }
  return tensorOf(input.dtype, input.shape, mask);
}

export function dropout(input: FloatTensor, opts: DropoutOptions = {}): { output: FloatTensor; mask: FloatTensor } {
  const s = settings(opts as Params);
  const mask = makeMask(input, s);
  if (!s.training || s.p === 0) return { output: input, mask };
  const x = input.data;
  const m = mask.data;
  const out = allocate(input.dtype, x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * m[i]!;
  return { output: tensorOf(input.dtype, input.shape, out), mask };
}

export function dropoutBackward(gradOutput: FloatTensor, mask: FloatTensor, opts: DropoutOptions = {}): FloatTensor {
  settings(opts as Params);
  sameDtype(gradOutput, mask);
  check(gradOutput.data.length === mask.data.length, 'dropout backward: grad_output and mask differ in size');
  const g = gradOutput.data;
  const m = mask.data;
  const out = allocate(gradOutput.dtype, g.length);
  for (let i = 0; i < g.length; i++) out[i] = g[i]! * m[i]!;
  return tensorOf(gradOutput.dtype, gradOutput.shape, out);
}

export const dropoutOp: OpSpec = {
  name: 'dropout',
  summary: 'Zeroes elements with probability p and scales the rest by 1/(1-p), seeded; as torch.nn.functional.dropout',
  tensorArgs: [{ name: 'input', kind: 'float' }],
  gradients: ['grad_input'],
  plan(shapes, params) {
    settings(params);
    const input = shapes.input ?? [];
    return { outputs: { output: [...input] }, work: numel(input) };
  },
  forward(tensors, params) {
    return { output: dropout(floatTensor('dropout', tensors, 'input'), params as DropoutOptions).output };
  },
  /** The mask is regenerated from the forward's seed, so a random (unseeded) mask cannot be differentiated. */
  backward(tensors, params) {
    const s = settings(params);
    if (s.training && s.p > 0 && s.p < 1 && s.seed === undefined) {
      throw new KernelArgumentError('dropout backward needs the seed the forward was run with', 'ValueError');
    }
    const input = floatTensor('dropout', tensors, 'input');
    return { grad_input: dropoutBackward(floatTensor('dropout', tensors, 'grad_output'), makeMask(input, s), params as DropoutOptions) };
  },
};
