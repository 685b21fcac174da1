/**
 * torch.nn.functional.conv_transpose2d and its backward. The forward is the input-gradient of a
 * conv2d (gemm then col2im); its backward is a conv2d forward of grad_output (im2col then gemm).
 * Weight layout [in_channels, out_channels/groups, kH, kW].
 */
import type { OpSpec } from '../registry.js';
import type { FloatTensor } from '../tensor.js';
import { asParams } from './args.js';
import {
  convTransposeBackward,
  convTransposeForward,
  convTransposeGeometry,
  rejectStringPadding,
  type ConvGradients,
  type ConvTransposeOptions,
} from './conv_core.js';
import { weightedLayerOp } from './weighted_op.js';

export type { ConvTransposeOptions } from './conv_core.js';

const fn = 'conv_transpose2d';

function geometry(input: readonly number[], weight: readonly number[], bias: readonly number[] | null, params: Readonly<Record<string, unknown>>) {
  rejectStringPadding(fn, params);
  return convTransposeGeometry(input, weight, bias, params);
}

export function convTranspose2d(
  input: FloatTensor,
  weight: FloatTensor,
  bias: FloatTensor | null,
  opts: ConvTransposeOptions = {},
): FloatTensor {
  const g = geometry(input.shape, weight.shape, bias?.shape ?? null, asParams(opts));
  return convTransposeForward(g, input, weight, bias);
}

export function convTranspose2dBackward(
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
  opts: ConvTransposeOptions = {},
): ConvGradients {
  const biasShape = hasBias ? [weight.shape[1]! * (opts.groups ?? 1)] : null;
  const g = geometry(input.shape, weight.shape, biasShape, asParams(opts));
  return convTransposeBackward(g, gradOutput, input, weight, hasBias);
}

export const convTranspose2dOp: OpSpec = weightedLayerOp({
  name: fn,
  summary: '2-d transposed convolution of a (N, C, H, W) or (C, H, W) input, as torch.nn.functional.conv_transpose2d',
  geometry,
  forward: convTransposeForward,
  backward: convTransposeBackward,
});
