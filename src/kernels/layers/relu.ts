/**
 * torch.nn.functional.relu and its backward. relu is clamp_min(x, 0): -0.0 and NaN pass through
 * unchanged. The gradient passes where x <= 0 is false, so a NaN input passes its gradient.
 */
import { check, formatSizes } from '../errors.js';
import type { OpSpec } from '../registry.js';
import { allocate } from '../storage.js';
import { numel, type FloatTensor } from '../tensor.js';
import { checkKeywords, floatTensor, sameDtype, tensorOf } from './args.js';
import { reluBackwardFloat32, reluFloat32 } from './relu_simd.js';

export function relu(input: FloatTensor): FloatTensor {
  const x = input.data;
  const out = allocate(input.dtype, x.length);
  if (!(x instanceof Float32Array && reluFloat32(x, out as Float32Array))) {
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      out[i] = v < 0 ? 0 : v;
    }
  }
  return tensorOf(input.dtype, input.shape, out);
}

export function reluBackward(gradOutput: FloatTensor, input: FloatTensor): FloatTensor {
  sameDtype(input, gradOutput);
  check(
    gradOutput.data.length === input.data.length,
    () => `Expected grad_output of size ${formatSizes(input.shape)}, but got grad_output of size ${formatSizes(gradOutput.shape)}`,
  );
  const x = input.data;
  const g = gradOutput.data;
  const out = allocate(input.dtype, x.length);
  if (!(x instanceof Float32Array && g instanceof Float32Array && reluBackwardFloat32(x, g, out as Float32Array))) {
    for (let i = 0; i < x.length; i++) out[i] = x[i]! <= 0 ? 0 : g[i]!;
  }
  return tensorOf(input.dtype, input.shape, out);
}

export const reluOp: OpSpec = {
  name: 'relu',
  summary: 'Rectified linear unit max(x, 0), as torch.nn.functional.relu',
  tensorArgs: [{ name: 'input', kind: 'float' }],
  gradients: ['grad_input'],
  plan(shapes, params) {
    checkKeywords('relu', params, ['inplace']);
    const input = shapes.input ?? [];
    return { outputs: { output: [...input] }, work: numel(input) };
  },
  forward(tensors, params) {
    checkKeywords('relu', params, ['inplace']);
    return { output: relu(floatTensor('relu', tensors, 'input')) };
  },
  backward(tensors) {
    return { grad_input: reluBackward(floatTensor('relu', tensors, 'grad_output'), floatTensor('relu', tensors, 'input')) };
  },
};
