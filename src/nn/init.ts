/**
 * PyTorch's default parameter initialisation, drawn from a seeded Rng.
 *
 * nn.Conv*d and nn.Linear call `kaiming_uniform_(weight, a=sqrt(5))`, which is U(-b, b) with
 * b = gain * sqrt(3 / fan_in) and gain = sqrt(2 / (1 + a^2)), i.e. b = 1/sqrt(fan_in); the bias is
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)). nn.BatchNorm starts with weight 1 and bias 0. The values
 * differ from PyTorch's own generator, the distributions do not.
 */
import type { FloatArray } from '../kernels/tensor.js';
import type { Rng } from './rng.js';

/** How a parameter is initialised by default. */
export type InitRule =
  | { readonly kind: 'kaiming_uniform'; readonly fanIn: number }
  | { readonly kind: 'bias_uniform'; readonly fanIn: number }
  | { readonly kind: 'constant'; readonly value: number };

/** Half-width of kaiming_uniform_(a = sqrt(5)), computed the way torch.nn.init does. */
export function kaimingUniformBound(fanIn: number, a = Math.sqrt(5)): number {
  if (fanIn === 0) return 0;
  const gain = Math.sqrt(2 / (1 + a * a));
  const std = gain / Math.sqrt(fanIn);
  return Math.sqrt(3) * std;
}

export function biasBound(fanIn: number): number {
  return fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
}

/** Fills `data` with U(-bound, bound) as uniform_ does: `from + (to - from) * u`. */
export function fillUniform(data: FloatArray, bound: number, rng: Rng): void {
  const from = -bound;
  const width = 2 * bound;
  for (let i = 0; i < data.length; i++) data[i] = from + width * rng.nextFloat32();
}

export function initialise(data: FloatArray, rule: InitRule, rng: Rng): void {
  switch (rule.kind) {
    case 'kaiming_uniform':
      fillUniform(data, kaimingUniformBound(rule.fanIn), rng);
      return;
    case 'bias_uniform':
      fillUniform(data, biasBound(rule.fanIn), rng);
      return;
    case 'constant':
      data.fill(rule.value);
      return;
  }
}
