/**
 * The OpSpec of a layer called as f(input, weight, bias=None, **params) with grad_input,
 * grad_weight and grad_bias: the convolutions, whose plan, forward and backward all start from one
 * geometry checked against the tensors' shapes.
 */
import type { OpSpec, Params, TensorArg } from '../registry.js';
import type { FloatTensor } from '../tensor.js';
import { floatTensor, optionalFloatTensor, required } from './args.js';
import type { ConvGradients } from './conv_core.js';

export const inputWeightBiasArgs: readonly TensorArg[] = [
  { name: 'input', kind: 'float' },
  { name: 'weight', kind: 'float' },
  { name: 'bias', kind: 'float', optional: true },
];

export const inputWeightBiasGradients: readonly string[] = ['grad_input', 'grad_weight', 'grad_bias'];

export interface WeightedLayer<G extends { readonly outputShape: readonly number[]; readonly work: number }> {
  readonly name: string;
  readonly summary: string;
  /** Checks the params against the shapes, throwing PyTorch's message. */
  geometry(input: readonly number[], weight: readonly number[], bias: readonly number[] | null, params: Params): G;
  forward(g: G, input: FloatTensor, weight: FloatTensor, bias: FloatTensor | null): FloatTensor;
  backward(g: G, gradOutput: FloatTensor, input: FloatTensor, weight: FloatTensor, hasBias: boolean): ConvGradients;
}

export function weightedLayerOp<G extends { readonly outputShape: readonly number[]; readonly work: number }>(layer: WeightedLayer<G>): OpSpec {
  const { name } = layer;
  return {
    name,
    summary: layer.summary,
    tensorArgs: inputWeightBiasArgs,
    gradients: inputWeightBiasGradients,
    plan(shapes, params) {
      const g = layer.geometry(required(name, shapes, 'input'), required(name, shapes, 'weight'), shapes.bias ?? null, params);
      return { outputs: { output: g.outputShape }, work: g.work };
    },
    forward(tensors, params) {
      const input = floatTensor(name, tensors, 'input');
      const weight = floatTensor(name, tensors, 'weight');
      const bias = optionalFloatTensor(tensors, 'bias');
      const g = layer.geometry(input.shape, weight.shape, bias?.shape ?? null, params);
      return { output: layer.forward(g, input, weight, bias) };
    },
    backward(tensors, params) {
      const input = floatTensor(name, tensors, 'input');
      const weight = floatTensor(name, tensors, 'weight');
      const bias = optionalFloatTensor(tensors, 'bias');
      const g = layer.geometry(input.shape, weight.shape, bias?.shape ?? null, params);
      return { ...layer.backward(g, floatTensor(name, tensors, 'grad_output'), input, weight, bias !== null) };
    },
  };
}
