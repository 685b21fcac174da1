/** The training loss: cross_entropy on the logits, as torch.nn.functional computes it. */
import type { FloatTensor, IntTensor } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';
import { crossEntropy, crossEntropyBackward } from '../kernels/layers/cross_entropy.js';
import { ConfigError } from './errors.js';

export interface LossConfig {
  readonly fn?: 'cross_entropy';
  readonly reduction?: 'mean' | 'sum';
  readonly label_smoothing?: number;
  /** Per-class weights (cross_entropy's `weight=`). */
  readonly weight?: readonly number[] | null;
}

export interface Loss {
  readonly config: Required<Omit<LossConfig, 'weight'>> & { readonly weight: readonly number[] | null };
  /** The loss of a batch and its gradient with respect to the logits. */
  valueAndGrad(logits: FloatTensor, target: IntTensor): { loss: number; grad: FloatTensor };
  value(logits: FloatTensor, target: IntTensor): number;
}

export function createLoss(config: LossConfig = {}): Loss {
  const fn = config.fn ?? 'cross_entropy';
  if (fn !== 'cross_entropy') throw new ConfigError(`unknown loss '${String(fn)}'; the loss is cross_entropy`);
  for (const key of Object.keys(config)) {
    if (!['fn', 'reduction', 'label_smoothing', 'weight'].includes(key)) throw new ConfigError(`unknown loss argument '${key}'`);
  }
  const reduction = config.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') throw new ConfigError(`loss reduction must be 'mean' or 'sum', got ${JSON.stringify(reduction)}`);
  const labelSmoothing = config.label_smoothing ?? 0;
  if (typeof labelSmoothing !== 'number' || !(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new ConfigError(`label_smoothing must be between 0.0 and 1.0. Got: ${String(labelSmoothing)}`);
  }
  const weight = config.weight ?? null;
  if (weight !== null && (!Array.isArray(weight) || !weight.every((w) => typeof w === 'number' && Number.isFinite(w)))) {
    throw new ConfigError('loss weight must be a list of numbers, one per class');
  }

  const optsFor = (logits: FloatTensor) => {
    const opts: { reduction: 'mean' | 'sum'; label_smoothing: number; weight?: FloatTensor } = { reduction, label_smoothing: labelSmoothing };
    if (weight) {
      const data = allocate(logits.dtype, weight.length);
      data.set(weight);
      opts.weight = { shape: [weight.length], dtype: logits.dtype, data } as FloatTensor;
    }
    return opts;
  };

  return {
    config: { fn, reduction, label_smoothing: labelSmoothing, weight },
    value(logits, target) {
      return crossEntropy(logits, target, optsFor(logits)).data[0]!;
    },
    valueAndGrad(logits, target) {
      const opts = optsFor(logits);
      const loss = crossEntropy(logits, target, opts);
      // d loss / d loss = 1, as autograd seeds a scalar backward.
      const one = { shape: [], dtype: logits.dtype, data: allocate(logits.dtype, 1).fill(1) } as FloatTensor;
      return { loss: loss.data[0]!, grad: crossEntropyBackward(one, logits, target, opts) };
    },
  };
}
