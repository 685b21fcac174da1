/** conv1d, conv2d and conv_transpose2d against every case of conv.json (values and gradients). */
import { describe, it } from 'vitest';
import { conv1d, conv1dBackward } from '../../../src/kernels/layers/conv1d.js';
import { conv2d, conv2dBackward } from '../../../src/kernels/layers/conv2d.js';
import { convTranspose2d, convTranspose2dBackward } from '../../../src/kernels/layers/conv_transpose2d.js';
import { loadGolden } from '../../helpers/golden.js';
import { expectMatch, f32 } from '../../helpers/golden-cases.js';

const ops = {
  conv1d: { forward: conv1d, backward: conv1dBackward },
  conv2d: { forward: conv2d, backward: conv2dBackward },
  conv_transpose2d: { forward: convTranspose2d, backward: convTranspose2dBackward },
} as const;

describe('conv golden cases (PyTorch 1.13.1)', () => {
  for (const c of loadGolden('conv.json').cases) {
    const op = ops[c.fn as keyof typeof ops];
    it(c.id, () => {
      const input = f32(c.input);
      const weight = f32(c.weight);
      const bias = c.bias ? f32(c.bias) : null;
      expectMatch(c, op.forward(input, weight, bias, c.params), c.output);
      const grads = op.backward(f32(c.grad_output), input, weight, bias !== null, c.params);
      expectMatch(c, grads.grad_input, c.grad_input);
      expectMatch(c, grads.grad_weight, c.grad_weight);
      if (c.grad_bias) expectMatch(c, grads.grad_bias, c.grad_bias);
    });
  }
});
