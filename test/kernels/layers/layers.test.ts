/** linear, relu, softmax, log_softmax, cross_entropy and batch_norm against layers.json. */
import { describe, expect, it } from 'vitest';
import { batchNorm, batchNormBackward } from '../../../src/kernels/layers/batch_norm.js';
import { crossEntropy, crossEntropyBackward } from '../../../src/kernels/layers/cross_entropy.js';
import { linear, linearBackward } from '../../../src/kernels/layers/linear.js';
import { relu, reluBackward } from '../../../src/kernels/layers/relu.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../../../src/kernels/layers/softmax.js';
import { expectClose, expectExact, loadGolden, type EncodedTensor, type GoldenCase } from '../../helpers/golden.js';
import { expectMatch, f32, int } from '../../helpers/golden-cases.js';

type Check = (c: GoldenCase) => void;

const checks: Record<string, Check> = {
  linear(c) {
    const input = f32(c.input);
    const weight = f32(c.weight);
    const bias = c.bias ? f32(c.bias) : null;
    expectMatch(c, linear(input, weight, bias), c.output);
    const grads = linearBackward(f32(c.grad_output), input, weight, bias !== null);
    expectMatch(c, grads.grad_input, c.grad_input);
    expectMatch(c, grads.grad_weight, c.grad_weight);
    if (c.grad_bias) expectMatch(c, grads.grad_bias, c.grad_bias);
    else expect(grads.grad_bias).toBeUndefined();
  },
  relu(c) {
    const input = f32(c.input);
    // Exact, with the sign of zero: relu(-0.0) is -0.0.
    expectExact(relu(input), c.output!, { signedZero: true });
    expectExact(reluBackward(f32(c.grad_output), input), c.grad_input!);
  },
  softmax(c) {
    const opts = c.params as { dim: number };
    const output = softmax(f32(c.input), opts);
    expectClose(output, c.output!, 1e-5, 1e-4);
    expectClose(softmaxBackward(f32(c.grad_output), output, opts), c.grad_input!, 1e-5, 1e-4);
  },
  log_softmax(c) {
    const opts = c.params as { dim: number };
    const output = logSoftmax(f32(c.input), opts);
    expectClose(output, c.output!, 1e-5, 1e-4);
    expectClose(logSoftmaxBackward(f32(c.grad_output), output, opts), c.grad_input!, 1e-5, 1e-4);
  },
  cross_entropy(c) {
    const opts = { ...c.params, weight: c.weight ? f32(c.weight) : null };
    const input = f32(c.input);
    const target = int(c.target);
    expectClose(crossEntropy(input, target, opts), c.output!, 1e-5, 1e-4);
    expectClose(crossEntropyBackward(f32(c.grad_output), input, target, opts), c.grad_input!, 1e-5, 1e-4);
  },
  batch_norm(c) {
    const input = f32(c.input);
    const weight = c.weight ? f32(c.weight) : null;
    const bias = c.bias ? f32(c.bias) : null;
    const result = batchNorm(input, f32(c.running_mean), f32(c.running_var), weight, bias, c.params);
    expectClose(result.output, c.output!, 1e-5, 1e-4);
    expectClose(result.running_mean, c.running_mean_after as EncodedTensor, 1e-5, 1e-4);
    expectClose(result.running_var, c.running_var_after as EncodedTensor, 1e-5, 1e-4);
    const grads = batchNormBackward(f32(c.grad_output), input, weight, c.params, result, bias !== null);
    expectClose(grads.grad_input, c.grad_input!, 1e-5, 1e-4);
    if (c.grad_weight) expectClose(grads.grad_weight, c.grad_weight as EncodedTensor, 1e-5, 1e-4);
    else expect(grads.grad_weight).toBeUndefined();
    if (c.grad_bias) expectClose(grads.grad_bias, c.grad_bias as EncodedTensor, 1e-5, 1e-4);
    else expect(grads.grad_bias).toBeUndefined();
  },
};

describe('layer golden cases (PyTorch 1.13.1)', () => {
  // `mean` is torch.mean, a reduction kernel, tested with the reductions.
  for (const c of loadGolden('layers.json').cases.filter((c) => c.fn !== 'mean')) {
    it(c.id, () => {
      const check = checks[c.fn];
      expect(check, `no check for ${c.fn}`).toBeDefined();
      check!(c);
    });
  }
});
