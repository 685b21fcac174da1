/** torch.nn.functional.conv1d and its backward: a conv2d with H = 1 (im2col + gemm). */
import type { OpSpec } from '../registry.js';
import type { FloatTensor } from '../tensor.js';
import { asParams, floatTensor, optionalFloatTensor, required } from './args.js';
import {
  convBackward,
  convForward,
  convGeometry,
  type ConvGradients,
  type ConvOptions,
} from './conv_core.js';


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

export const conv1dOp: OpSpec = {
  name: 'conv1d',
  summary: '1-d convolution of a (N, C, L) or (C, L) input, as torch.nn.functional.conv1d',
  tensorArgs: [
    { name: 'input', kind: 'float' },
    { name: 'weight', kind: 'float' },
    { name: 'bias', kind: 'float', optional: true },
  ],
  gradients: ['grad_input', 'grad_weight', 'grad_bias'],
  plan(shapes, params) {
    const g = convGeometry('conv1d', required('conv1d', shapes, 'input'), required('conv1d', shapes, 'weight'), shapes.bias ?? null, params);
    return { outputs: { output: g.outputShape }, work: g.work };
  },
  forward(tensors, params) {
    const input = floatTensor('conv1d', tensors, 'input');
    const weight = floatTensor('conv1d', tensors, 'weight');
    const bias = optionalFloatTensor(tensors, 'bias');
    const g = convGeometry('conv1d', input.shape, weight.shape, bias?.shape ?? null, params);
    return { output: convForward(g, input, weight, bias) };
  },
  backward(tensors, params) {
    const input = floatTensor('conv1d', tensors, 'input');
    const weight = floatTensor('conv1d', tensors, 'weight');
    const bias = optionalFloatTensor(tensors, 'bias');
    const g = convGeometry('conv1d', input.shape, weight.shape, bias?.shape ?? null, params);
    return { ...convBackward(g, floatTensor('conv1d', tensors, 'grad_output'), input, weight, bias !== null) };
  },
};
