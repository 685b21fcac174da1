/** torch.nn.functional.conv1d and its backward: a conv2d with H = 1 (im2col + gemm). */
import type { OpSpec } from '../registry.js';
import type { FloatTensor } from '../tensor.js';
import { asParams } from './args.js';
import {
  convBackward,
  convForward,
  convGeometry,
  type ConvGradients,
  type ConvOptions,
} from './conv_core.js';
import { weightedLayerOp } from './weighted_op.js';

export function conv1d(input: FloatTensor, weight: FloatTensor, bias: FloatTensor | null, opts: ConvOptions = {}): FloatTensor {
  const g = convGeometry('conv1d', input.shape, weight.shape, bias?.shape ?? null, asParams(opts));
  return convForward(g, input, weight, bias);
}

export function conv1dBackward(
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
  opts: ConvOptions = {},
): ConvGradients {
  const g = convGeometry('conv1d', input.shape, weight.shape, hasBias ? [weight.shape[0]!] : null, asParams(opts));
  return convBackward(g, gradOutput, input, weight, hasBias);
}

export const conv1dOp: OpSpec = weightedLayerOp({
  name: 'conv1d',
  summary: '1-d convolution of a (N, C, L) or (C, L) input, as torch.nn.functional.conv1d',
  geometry: (input, weight, bias, params) => convGeometry('conv1d', input, weight, bias, params),
  forward: convForward,
  backward: convBackward,
});
