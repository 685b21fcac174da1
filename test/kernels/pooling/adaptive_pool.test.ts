import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../../src/kernels/errors.js';
import * as adaptive from '../../../src/kernels/pooling/adaptive_pool.js';
import { getOp } from '../../../src/kernels/registry.js';
import type { FloatTensor, IntTensor, Tensor } from '../../../src/kernels/tensor.js';
import {
  decodeF32,
  decodeF64,
  decodeInt,
  expectClose,
  expectExact,
  loadGolden,
  type EncodedTensor,
  type GoldenCase,
} from '../../helpers/golden.js';
import { expectRejection, zerosF32 } from '../../helpers/golden-cases.js';

type Forward = (input: FloatTensor, opts: never) => FloatTensor | { output: FloatTensor; indices: IntTensor };
type AvgBackward = (grad: FloatTensor, input: FloatTensor, opts: never) => FloatTensor;
type MaxBackward = (grad: FloatTensor, input: FloatTensor, indices: IntTensor, opts: never) => FloatTensor;

const typed: Record<string, { forward: Forward; backward: AvgBackward | MaxBackward }> = {
  adaptive_avg_pool1d: { forward: adaptive.adaptiveAvgPool1d, backward: adaptive.adaptiveAvgPool1dBackward },
  adaptive_avg_pool2d: { forward: adaptive.adaptiveAvgPool2d, backward: adaptive.adaptiveAvgPool2dBackward },
  adaptive_avg_pool3d: { forward: adaptive.adaptiveAvgPool3d, backward: adaptive.adaptiveAvgPool3dBackward },
  adaptive_max_pool1d: { forward: adaptive.adaptiveMaxPool1d, backward: adaptive.adaptiveMaxPool1dBackward },
  adaptive_max_pool2d: { forward: adaptive.adaptiveMaxPool2d, backward: adaptive.adaptiveMaxPool2dBackward },
  adaptive_max_pool3d: { forward: adaptive.adaptiveMaxPool3d, backward: adaptive.adaptiveMaxPool3dBackward },
};

function run(c: GoldenCase, decode: (t: EncodedTensor) => Tensor) {
  const { forward, backward } = typed[c.fn]!;
  const input = decode(c.input!) as FloatTensor;
  const result = forward(input, c.params as never);
  const output = 'output' in result ? result.output : result;
  const indices = 'output' in result ? result.indices : undefined;
  let gradInput: FloatTensor | undefined;
  if (c.grad_output) {
    const grad = decode(c.grad_output) as FloatTensor;
    gradInput = indices
      ? (backward as MaxBackward)(grad, input, indices, c.params as never)
      : (backward as AvgBackward)(grad, input, c.params as never);
  }
  return { input, output, indices, gradInput };
}

const cases = loadGolden('adaptive_pool.json').cases;

describe('adaptive pooling: PyTorch 1.13.1 golden cases', () => {
  it('has every case of adaptive_pool.json', () => {
    expect(cases.length).toBe(63);
  });

  for (const c of cases) {
    // Bit-exact everywhere. The all-ones output_size cases (`*-global`, `adaptive_avg_pool1d-r003`)
    // are a mean() in PyTorch, summed in another order than a window sum; our mean() reproduces
    // ATen's summation order, so they match exactly as well.
    it(`${c.id}: forward${c.indices ? ', indices' : ''}${c.grad_output ? ', backward' : ''}`, () => {
      const { output, indices, gradInput } = run(c, decodeF32);
      expectExact(output, c.output!);
      if (c.indices) expectExact(indices, c.indices);
      if (c.grad_output) expectExact(gradInput, c.grad_input!);
    });

    it(`${c.id}: float64 agrees with the float32 reference`, () => {
      const { output, indices, gradInput } = run(c, decodeF64);
      expect(output.dtype).toBe('float64');
      expectClose(output, c.output!, 1e-6, 1e-6);
      if (c.indices) expectExact(indices, c.indices);
      if (c.grad_output) expectClose(gradInput, c.grad_input!, 1e-6, 1e-6);
    });

    it(`${c.id}: through the registry`, () => {
      const op = getOp(c.fn)!;
      const input = decodeF32(c.input!);
      const plan = op.plan({ input: input.shape }, c.params);
      expect(plan.outputs.output).toEqual(c.output!.shape);
      expect(plan.outputs.indices).toEqual(c.indices?.shape);
      expect(plan.work).toBeGreaterThanOrEqual(0);
      const result = op.forward({ input }, c.params);
      expect(Object.keys(result).sort()).toEqual(c.indices ? ['indices', 'output'] : ['output']);
      expectExact(result.output, c.output!);
      if (c.indices) expectExact(result.indices, c.indices);
      if (c.grad_output) {
        const grads = op.backward!({ input, grad_output: decodeF32(c.grad_output) }, c.params);
        expectExact(grads.grad_input, c.grad_input!);
      }
    });
  }

  it('adaptive_avg_pool2d-zero-output: backward raises as PyTorch does', () => {
    const c = cases.find((g) => g.id === 'adaptive_avg_pool2d-zero-output')!;
    const input = decodeF32(c.input!) as FloatTensor;
    const grad: FloatTensor = { shape: [1, 2, 0, 0], dtype: 'float32', data: new Float32Array(0) };
    expect(() => adaptive.adaptiveAvgPool2dBackward(grad, input, c.params as never)).toThrow(
      'adaptive_avg_pool2d_backward(): Expected grad_output to have non-zero size for non-batch dimensions, but grad_output has sizes [1, 2, 0, 0] with dimension 2 being empty',
    );
  });
});

describe('adaptive pooling: errors.json', () => {
  const errorCases = loadGolden('errors.json').cases.filter((c) => c.fn.startsWith('adaptive_'));

  it('has all 19 adaptive cases', () => {
    expect(errorCases.length).toBe(19);
  });

  for (const c of errorCases) {
    const shape = c.input_shape as number[];
    it(`${c.id}: ${c.error}`, () => {
      const op = getOp(c.fn)!;
      expectRejection(() => op.plan({ input: shape }, c.params), c.error as string, c.message as string);
      const input = zerosF32(shape);
      expectRejection(() => op.forward({ input }, c.params), c.error as string, c.message as string);
    });
  }
});

describe('adaptive pooling: arguments', () => {
  const x = zerosF32;

  it('a tuple longer than the input has dims is a ValueError (from _list_with_default)', () => {
    expectRejection(() => adaptive.adaptiveAvgPool2d(x([8, 8]), { output_size: [2, 2] }), 'ValueError', 'Input dimension should be at least 3');
    expectRejection(() => adaptive.adaptiveMaxPool3d(x([2, 4, 4]), { output_size: [2, 2, 2] }), 'ValueError', 'Input dimension should be at least 4');
  });

  it('wrong types are TypeErrors', () => {
    expectRejection(
      () => adaptive.adaptiveAvgPool2d(x([1, 4, 4]), { output_size: [2, 1.5] }),
      'TypeError',
      "adaptive_avg_pool2d(): argument 'output_size' must be tuple of ints, but found element of type float at pos 2",
    );
    expectRejection(
      () => adaptive.adaptiveMaxPool1d(x([1, 4]), { output_size: [null] }),
      'TypeError',
      "adaptive_max_pool1d(): argument 'output_size' must be tuple of ints, but found element of type NoneType at pos 1",
    );
    expectRejection(
      () => adaptive.adaptiveMaxPool2d(x([1, 4, 4]), { output_size: '2' } as never),
      'TypeError',
      "adaptive_max_pool2d(): argument 'output_size' must be tuple of ints, not str",
    );
    expectRejection(
      () => adaptive.adaptiveMaxPool2d(x([1, 4, 4]), { output_size: 2, return_indices: 'yes' } as never),
      'TypeError',
      "adaptive_max_pool2d(): argument 'return_indices' must be bool, not str",
    );
  });

  it('all-ones output_size is a mean, with its shape rules (PyTorch skips the pooling checks there)', () => {
    expect(adaptive.adaptiveAvgPool2d(x([3, 5]), { output_size: 1 }).shape).toEqual([1, 1]);
    expect(adaptive.adaptiveAvgPool3d(x([2, 3, 4, 5, 6]), { output_size: [1, 1, 1] }).shape).toEqual([2, 3, 1, 1, 1]);
    expectRejection(
      () => adaptive.adaptiveAvgPool2d(x([5]), { output_size: 1 }),
      'IndexError',
      'Dimension out of range (expected to be in range of [-1, 0], but got -2)',
    );
    const empty = adaptive.adaptiveAvgPool2d(x([1, 2, 0, 4]), { output_size: 1 });
    expect(empty.shape).toEqual([1, 2, 1, 1]);
    expect(Number.isNaN(empty.data[0])).toBe(true);
  });

  it('an empty batch gives an empty output', () => {
    expect(adaptive.adaptiveAvgPool2d(x([0, 2, 4, 4]), { output_size: 2 }).shape).toEqual([0, 2, 2, 2]);
    expect(adaptive.adaptiveMaxPool3d(x([0, 2, 4, 4, 4]), { output_size: 3 }).output.shape).toEqual([0, 2, 3, 3, 3]);
  });

  it('max backward rejects indices outside the plane', () => {
    const input = x([1, 1, 4]);
    const grad: FloatTensor = { shape: [1, 1, 2], dtype: 'float32', data: new Float32Array(2) };
    const indices = decodeInt({ shape: [1, 1, 2], data: [0, 4] }) as IntTensor;
    expect(() => adaptive.adaptiveMaxPool1dBackward(grad, input, indices, { output_size: 2 })).toThrow(KernelArgumentError);
  });
});
