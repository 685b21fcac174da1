/** The OpSpec of a pool with one float input, one output and one gradient (avg and LP pooling). */
import type { OpSpec, Params } from '../registry.js';
import type { FloatTensor } from '../tensor.js';
import { inputShape } from './pool_args.js';

export interface FloatPool {
  readonly name: string;
  readonly summary: string;
  /** Checks the params against the input shape, throwing PyTorch's message. */
  plan(shape: readonly number[], params: Params): { readonly outputShape: readonly number[]; readonly work: number };
  forward(input: FloatTensor, params: Params): FloatTensor;
  backward(gradOutput: FloatTensor, input: FloatTensor, params: Params): FloatTensor;
}

export function floatPoolOp(pool: FloatPool): OpSpec {
  return {
    name: pool.name,
    summary: pool.summary,
    tensorArgs: [{ name: 'input', kind: 'float' }],
    gradients: ['grad_input'],
    plan(shapes, params) {
      const { outputShape, work } = pool.plan(inputShape(pool.name, shapes), params);
      return { outputs: { output: outputShape }, work };
    },
    // The pool's own functions check the tensors (floatTensor), as a direct call would.
    forward(tensors, params) {
      return { output: pool.forward(tensors['input'] as FloatTensor, params) };
    },
    backward(tensors, params) {
      return { grad_input: pool.backward(tensors['grad_output'] as FloatTensor, tensors['input'] as FloatTensor, params) };
    },
  };
}
