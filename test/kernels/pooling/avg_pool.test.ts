import { describe, expect, it } from 'vitest';
import {
  avgPool1d,
  avgPool1dBackward,
  avgPool2d,
  avgPool2dBackward,
  avgPool3d,
  avgPool3dBackward,
  type AvgPoolOptions,
} from '../../../src/kernels/pooling/avg_pool.js';
import { getOp } from '../../../src/kernels/registry.js';
import type { FloatTensor } from '../../../src/kernels/tensor.js';
import { expectClose, expectExact, loadGolden, type GoldenCase } from '../../helpers/golden.js';
import { f32, f64 } from '../../helpers/golden-cases.js';
import { FLOAT64_ATOL, FLOAT64_RTOL } from './tolerances.js';

type Forward = (input: FloatTensor, opts: AvgPoolOptions) => FloatTensor;
type Backward = (gradOutput: FloatTensor, input: FloatTensor, opts: AvgPoolOptions) => FloatTensor;

const typed: Record<string, [Forward, Backward]> = {
  avg_pool1d: [avgPool1d, avgPool1dBackward],
  avg_pool2d: [avgPool2d, avgPool2dBackward],
  avg_pool3d: [avgPool3d, avgPool3dBackward],
};

const cases: GoldenCase[] = [
  ...loadGolden('avg_pool.json').cases,
  ...loadGolden('seed_example.json').cases.filter((c) => c.fn.startsWith('avg_pool')),
];

describe('avg pooling matches PyTorch 1.13.1 bit for bit (float32)', () => {
  for (const c of cases) {
    it(c.id, () => {
      const [forward, backward] = typed[c.fn]!;
      const options = c.params as unknown as AvgPoolOptions;
      const input = f32(c.input);
      expectExact(forward(input, options), c.output!);
      if (c.grad_output) expectExact(backward(f32(c.grad_output), input, options), c.grad_input!);
    });
  }
});

describe('avg pooling through the registry op (plan, forward, backward)', () => {
  for (const c of cases) {
    it(c.id, () => {
      const op = getOp(c.fn)!;
      const input = f32(c.input);
      expect(op.plan({ input: input.shape }, c.params).outputs).toEqual({ output: c.output!.shape });
      const result = op.forward({ input }, c.params);
      expect(Object.keys(result)).toEqual(['output']);
      expectExact(result['output'], c.output!);
      if (c.grad_output) {
        const { grad_input } = op.backward!({ input, grad_output: f32(c.grad_output) }, c.params);
        expectExact(grad_input, c.grad_input!);
      }
    });
  }
});

describe('avg pooling in float64 agrees with the float32 goldens', () => {
  for (const c of cases) {
    it(c.id, () => {
      const [forward, backward] = typed[c.fn]!;
      const options = c.params as unknown as AvgPoolOptions;
      const input = f64(c.input);
      const output = forward(input, options);
      expect(output.dtype).toBe('float64');
      expectClose(output, c.output!, FLOAT64_ATOL, FLOAT64_RTOL);
      if (c.grad_output) expectClose(backward(f64(c.grad_output), input, options), c.grad_input!, FLOAT64_ATOL, FLOAT64_RTOL);
    });
  }
});
