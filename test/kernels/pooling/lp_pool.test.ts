import { describe, expect, it } from 'vitest';
import {
  lpPool1d,
  lpPool1dBackward,
  lpPool2d,
  lpPool2dBackward,
  type LpPoolOptions,
} from '../../../src/kernels/pooling/lp_pool.js';
import { getOp } from '../../../src/kernels/registry.js';
import type { FloatTensor } from '../../../src/kernels/tensor.js';
import { expectClose, loadGolden } from '../../helpers/golden.js';
import { f32, f64 } from '../../helpers/golden-cases.js';

type Forward = (input: FloatTensor, opts: LpPoolOptions) => FloatTensor;
type Backward = (gradOutput: FloatTensor, input: FloatTensor, opts: LpPoolOptions) => FloatTensor;

const typed: Record<string, [Forward, Backward]> = {
  lp_pool1d: [lpPool1d, lpPool1dBackward],
  lp_pool2d: [lpPool2d, lpPool2dBackward],
};

const cases = loadGolden('lp_pool.json').cases;

// PyTorch computes pow with a vectorised (SLEEF) pow that is within an ulp of the correctly rounded
// result, not equal to it; every other step is reproduced exactly, so agreement is to a few ulp.
const ATOL = 1e-6;
const RTOL = 1e-5;

describe('LP pooling matches PyTorch 1.13.1 to a few ulp (float32)', () => {
  for (const c of cases) {
    it(c.id, () => {
      const [forward, backward] = typed[c.fn]!;
      const options = c.params as unknown as LpPoolOptions;
      const input = f32(c.input);
      const output = forward(input, options);
      expect(output.dtype).toBe('float32');
      expectClose(output, c.output!, ATOL, RTOL);
      const gradInput = backward(f32(c.grad_output), input, options);
      expect(gradInput.dtype).toBe('float32');
      expectClose(gradInput, c.grad_input!, ATOL, RTOL);
    });
  }
});

describe('LP pooling through the registry op (plan, forward, backward)', () => {
  for (const c of cases) {
    it(c.id, () => {
      const op = getOp(c.fn)!;
      const input = f32(c.input);
      expect(op.plan({ input: input.shape }, c.params).outputs).toEqual({ output: c.output!.shape });
      expectClose(op.forward({ input }, c.params)['output'], c.output!, ATOL, RTOL);
      const { grad_input } = op.backward!({ input, grad_output: f32(c.grad_output) }, c.params);
      expectClose(grad_input, c.grad_input!, ATOL, RTOL);
    });
  }
});

describe('LP pooling in float64 agrees with the float32 goldens', () => {
  for (const c of cases) {
    it(c.id, () => {
      const [forward, backward] = typed[c.fn]!;
      const options = c.params as unknown as LpPoolOptions;
      const input = f64(c.input);
      expectClose(forward(input, options), c.output!, ATOL, RTOL);
      expectClose(backward(f64(c.grad_output), input, options), c.grad_input!, ATOL, RTOL);
    });
  }
});
