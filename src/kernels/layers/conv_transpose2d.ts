/**
 * torch.nn.functional.conv_transpose2d and its backward. The forward is the input-gradient of a
 * conv2d (gemm then col2im); its backward is a conv2d forward of grad_output (im2col then gemm).
 * Weight layout [in_channels, out_channels/groups, kH, kW].
 */
import type { OpSpec } from '../registry.js';
import type { FloatTensor } from '../tensor.js';
import { asParams, floatTensor, optionalFloatTensor, required } from './args.js';
import {
  convTransposeBackward,
  convTransposeForward,
  convTransposeGeometry,
  rejectStringPadding,
  type ConvGradients,
  type ConvTransposeOptions,
} from './conv_core.js';

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

export const convTranspose2dOp: OpSpec = {
  name: fn,
  summary: '2-d transposed convolution of a (N, C, H, W) or (C, H, W) input, as torch.nn.functional.conv_transpose2d',
  tensorArgs: [
    { name: 'input', kind: 'float' },
    { name: 'weight', kind: 'float' },
    { name: 'bias', kind: 'float', optional: true },
  ],
  gradients: ['grad_input', 'grad_weight', 'grad_bias'],
  plan(shapes, params) {
    const g = geometry(required(fn, shapes, 'input'), required(fn, shapes, 'weight'), shapes.bias ?? null, params);
    return { outputs: { output: g.outputShape }, work: g.work };
  },
  forward(tensors, params) {
    const input = floatTensor(fn, tensors, 'input');
    const weight = floatTensor(fn, tensors, 'weight');
    const bias = optionalFloatTensor(tensors, 'bias');
    const g = geometry(input.shape, weight.shape, bias?.shape ?? null, params);
    return { output: convTransposeForward(g, input, weight, bias) };
  },
  backward(tensors, params) {
    const input = floatTensor(fn, tensors, 'input');
    const weight = floatTensor(fn, tensors, 'weight');
    const bias = optionalFloatTensor(tensors, 'bias');
    const g = geometry(input.shape, weight.shape, bias?.shape ?? null, params);
    return { ...convTransposeBackward(g, floatTensor(fn, tensors, 'grad_output'), input, weight, bias !== null) };
  },
};
