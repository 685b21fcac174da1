import { describe, expect, it } from 'vitest';
import {
  maxPool1d,
  maxPool1dBackward,
  maxPool2d,
  maxPool2dBackward,
  maxPool3d,
  maxPool3dBackward,
  type MaxPoolOptions,
} from '../../../src/kernels/pooling/max_pool.js';
import { getOp } from '../../../src/kernels/registry.js';
import type { FloatTensor, IntTensor } from '../../../src/kernels/tensor.js';
import { expectClose, expectExact, loadGolden, type GoldenCase } from '../../helpers/golden.js';
import { f32, f64 } from '../../helpers/golden-cases.js';
import { FLOAT64_ATOL, FLOAT64_RTOL } from './tolerances.js';

type Forward = (input: FloatTensor, opts: MaxPoolOptions) => { output: FloatTensor; indices?: IntTensor };
type Backward = (gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: MaxPoolOptions) => FloatTensor;

const typed: Record<string, [Forward, Backward]> = {
  max_pool1d: [maxPool1d, maxPool1dBackward],
  max_pool2d: [maxPool2d, maxPool2dBackward],
  max_pool3d: [maxPool3d, maxPool3dBackward],
};

const cases: GoldenCase[] = [
  ...loadGolden('max_pool.json').cases,
  ...loadGolden('seed_example.json').cases.filter((c) => c.fn.startsWith('max_pool')),
];

describe('max pooling matches PyTorch 1.13.1 bit for bit (float32)', () => {
  for (const c of cases) {
    it(c.id, () => {
      const [forward, backward] = typed[c.fn]!;
      const options = c.params as unknown as MaxPoolOptions;
      const input = f32(c.input);
      const { output, indices } = forward(input, options);
      expectExact(output, c.output!);
      if (c.indices) expectExact(indices, c.indices);
      if (c.grad_output) expectExact(backward(f32(c.grad_output), input, indices!, options), c.grad_input!);
    });
  }
});

describe('max pooling through the registry op (plan, forward, backward)', () => {
  for (const c of cases) {
    it(c.id, () => {
      const op = getOp(c.fn)!;
      const input = f32(c.input);
      const plan = op.plan({ input: input.shape }, c.params);
      const expectedOutputs = c.indices ? { output: c.output!.shape, indices: c.indices.shape } : { output: c.output!.shape };
      expect(plan.outputs).toEqual(expectedOutputs);
      const result = op.forward({ input }, c.params);
      expect(Object.keys(result).sort()).toEqual(Object.keys(expectedOutputs).sort());
      expectExact(result['output'], c.output!);
      if (c.indices) expectExact(result['indices'], c.indices);
      if (c.grad_output) {
        const { grad_input } = op.backward!({ input, grad_output: f32(c.grad_output) }, c.params);
        expectExact(grad_input, c.grad_input!);
      }
    });
  }
});

describe('max pooling in float64 agrees with the float32 goldens', () => {
  for (const c of cases) {
    it(c.id, () => {
      const [forward, backward] = typed[c.fn]!;
      const options = c.params as unknown as MaxPoolOptions;
      const input = f64(c.input);
      const { output, indices } = forward(input, options);
      expect(output.dtype).toBe('float64');
      // Selecting a maximum does no arithmetic: values and indices are the same in either precision.
      expectExact(output, c.output!);
      if (c.indices) expectExact(indices, c.indices);
      if (c.grad_output) {
        const gradInput = backward(f64(c.grad_output), input, indices!, options);
        expect(gradInput.dtype).toBe('float64');
        expectClose(gradInput, c.grad_input!, FLOAT64_ATOL, FLOAT64_RTOL);
      }
    });
  }
});

describe('rules pinned beyond the goldens', () => {
  const plannedLength = (length: number, params: Record<string, unknown>) =>
    getOp('max_pool1d')!.plan({ input: [1, 1, length] }, params).outputs['output']![2];

  it('ceil_mode keeps a last window only if it starts inside the input or the left padding (worked shapes from public issues)', () => {
    expect(plannedLength(32, { kernel_size: 1, stride: 2, ceil_mode: true })).toBe(16);
    expect(plannedLength(9, { kernel_size: 4, stride: 4, padding: 2, ceil_mode: true })).toBe(3);
    expect(plannedLength(5, { kernel_size: 2, stride: 2, padding: 1, ceil_mode: true })).toBe(3);
    expect(plannedLength(5, { kernel_size: 3, stride: 3, padding: 1, ceil_mode: true })).toBe(2);
    expect(plannedLength(12, { kernel_size: 1, stride: 2, ceil_mode: true })).toBe(6);
    expect(plannedLength(4, { kernel_size: 3, stride: 2, padding: 1, ceil_mode: true })).toBe(3);
  });

  it('a dilated window lying entirely in the padding gives -inf, ATen\'s index, and passes no gradient', () => {
    // L=2, k=2, dilation=3, padding=1: the only window has taps at -1 and 2, both outside the input.
    const options = { kernel_size: 2, dilation: 3, padding: 1, return_indices: true };
    const input: FloatTensor = { shape: [1, 1, 2], dtype: 'float32', data: Float32Array.from([5, 7]) };
    const { output, indices } = maxPool1d(input, options);
    expect(Array.from(output.data)).toEqual([-Infinity]);
    // ATen's index: the first tap past the left padding, position 2.
    expect(Array.from(indices!.data)).toEqual([2]);
    const gradOutput: FloatTensor = { shape: [1, 1, 1], dtype: 'float32', data: Float32Array.from([1]) };
    expect(Array.from(maxPool1dBackward(gradOutput, input, indices!, options).data)).toEqual([0, 0]);
  });
});
