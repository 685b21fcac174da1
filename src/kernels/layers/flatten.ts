/**
 * torch.flatten: merges dims start_dim..end_dim into one. The result shares the input's data (a
 * view). Defaults are torch.flatten's (start_dim=0, end_dim=-1); nn.Flatten uses start_dim=1.
 */
import { check } from '../errors.js';
import type { OpSpec, Params } from '../registry.js';
import type { FloatTensor } from '../tensor.js';
import { checkKeywords, floatTensor, intArg, view, wrapDim } from './args.js';

export interface FlattenOptions {
  start_dim?: number;
  end_dim?: number;
}

function flattenedShape(shape: readonly number[], params: Params): number[] {
  checkKeywords('flatten', params, ['start_dim', 'end_dim']);
  const start = wrapDim(intArg('flatten', 'start_dim', params.start_dim, 0), shape.length);
  const end = wrapDim(intArg('flatten', 'end_dim', params.end_dim, -1), shape.length);
  check(start <= end, 'flatten() has invalid args: start_dim cannot come after end_dim');
  if (shape.length === 0) return [1];
  let merged = 1;
  for (let i = start; i <= end; i++) merged *= shape[i]!;
  return [...shape.slice(0, start), merged, ...shape.slice(end + 1)];
}

export function flatten(input: FloatTensor, opts: FlattenOptions = {}): FloatTensor {
  return view(input, flattenedShape(input.shape, opts as Params));
}

/** The gradient of a view is grad_output seen in the input's shape. */
export function flattenBackward(gradOutput: FloatTensor, input: FloatTensor): FloatTensor {
  check(gradOutput.data.length === input.data.length, 'flatten backward: grad_output and input differ in size');
  return view(gradOutput, input.shape);
}

export const flattenOp: OpSpec = {
  name: 'flatten',
  summary: 'Merges a range of dims into one, as torch.flatten',
  tensorArgs: [{ name: 'input', kind: 'float' }],
  gradients: ['grad_input'],
  plan(shapes, params) {
    return { outputs: { output: flattenedShape(shapes.input ?? [], params) }, work: 1 };
  },
  forward(tensors, params) {
    const input = floatTensor('flatten', tensors, 'input');
    return { output: view(input, flattenedShape(input.shape, params)) };
  },
  backward(tensors, params) {
    const input = floatTensor('flatten', tensors, 'input');
    flattenedShape(input.shape, params);
    return { grad_input: flattenBackward(floatTensor('flatten', tensors, 'grad_output'), input) };
  },
};
