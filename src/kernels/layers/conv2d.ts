/** torch.nn.functional.conv2d and its backward: im2col + gemm per image and group. */
import type { OpSpec } from '../registry.js';
import type { FloatTensor } from '../tensor.js';
import { asParams } from './args.js';
import {
  convBackward,
  convForward,
  convWeightBackward,
  convGeometry,
  type ConvGradients,
  type ConvOptions,
} from './conv_core.js';
import { weightedLayerOp } from './weighted_op.js';

export type { ConvGradients, ConvOptions } from './conv_core.js';

export function conv2d(input: FloatTensor, weight: FloatTensor, bias: FloatTensor | null, opts: ConvOptions = {}): FloatTensor {
  const g = convGeometry('conv2d', input.shape, weight.shape, bias?.shape ?? null, asParams(opts));
  return convForward(g, input, weight, bias);
}

export function conv2dBackward(
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
  opts: ConvOptions = {},
): ConvGradients {
  const g = convGeometry('conv2d', input.shape, weight.shape, hasBias ? [weight.shape[0]!] : null, asParams(opts));
  return convBackward(g, gradOutput, input, weight, hasBias);
}

/** conv2dBackward without grad_input, for a first layer whose input needs no gradient. */
export function conv2dWeightBackward(
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
  opts: ConvOptions = {},
): Omit<ConvGradients, 'grad_input'> {
  const g = convGeometry('conv2d', input.shape, weight.shape, hasBias ? [weight.shape[0]!] : null, asParams(opts));
  return convWeightBackward(g, gradOutput, input, weight, hasBias);
}

export const conv2dOp: OpSpec = weightedLayerOp({
  name: 'conv2d',
  summary: '2-d convolution of a (N, C, H, W) or (C, H, W) input, as torch.nn.functional.conv2d',
  geometry: (input, weight, bias, params) => convGeometry('conv2d', input, weight, bias, params),
  forward: convForward,
  backward: convBackward,
});
