import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../../src/kernels/errors.js';
import * as unpool from '../../../src/kernels/pooling/max_unpool.js';
import { getOp } from '../../../src/kernels/registry.js';
import type { FloatTensor, IntTensor, Tensor } from '../../../src/kernels/tensor.js';
import { decodeF32, decodeF64, decodeInt, expectClose, expectExact, loadGolden, type EncodedTensor } from '../../helpers/golden.js';
import { expectRejection, zerosF32 } from '../../helpers/golden-cases.js';

type Forward = (input: FloatTensor, indices: IntTensor, opts: never) => FloatTensor;
type Backward = (grad: FloatTensor, input: FloatTensor, indices: IntTensor, opts: never) => FloatTensor;

const typed: Record<string, { forward: Forward; backward: Backward }> = {
  max_unpool1d: { forward: unpool.maxUnpool1d, backward: unpool.maxUnpool1dBackward },
  max_unpool2d: { forward: unpool.maxUnpool2d, backward: unpool.maxUnpool2dBackward },
  max_unpool3d: { forward: unpool.maxUnpool3d, backward: unpool.maxUnpool3dBackward },
};

const cases = loadGolden('max_unpool.json').cases;

describe('max unpooling: PyTorch 1.13.1 golden cases', () => {
  it('has every case of max_unpool.json', () => {
    expect(cases.length).toBe(18);
  });

  for (const c of cases) {
    const indices = decodeInt(c.indices!) as IntTensor;
    const { forward, backward } = typed[c.fn]!;

    for (const [dtype, decode, exact] of [
      ['float32', decodeF32, true],
      ['float64', decodeF64, false],
    ] as const) {
      it(`${c.id}: forward and backward (${dtype})`, () => {
        const input = decode(c.input!) as FloatTensor;
        const output = forward(input, indices, c.params as never);
        expect(output.dtype).toBe(dtype);
        const grad = backward(decode(c.grad_output!) as FloatTensor, input, indices, c.params as never);
        // Unpooling only moves values, so float64 holds the float32 values exactly too.
        if (exact) {
          expectExact(output, c.output!);
          expectExact(grad, c.grad_input!);
        } else {
          expectClose(output, c.output!, 0, 0);
          expectClose(grad, c.grad_input!, 0, 0);
        }
      });
    }

    it(`${c.id}: through the registry`, () => {
      const op = getOp(c.fn)!;
      const input = decodeF32(c.input!);
      const plan = op.plan({ input: input.shape, indices: indices.shape }, c.params);
      expect(plan.outputs).toEqual({ output: c.output!.shape });
      expectExact(op.forward({ input, indices }, c.params).output, c.output!);
      const grads = op.backward!({ input, indices, grad_output: decodeF32(c.grad_output!) }, c.params);
      expectExact(grads.grad_input, c.grad_input!);
    });
  }
});

describe('max unpooling: errors.json', () => {
  const errorCases = loadGolden('errors.json').cases.filter((c) => c.fn.startsWith('max_unpool'));

  it('has all 13 unpool cases', () => {
    expect(errorCases.length).toBe(13);
  });

  for (const c of errorCases) {
    const shape = c.input_shape as number[];
    const indices = decodeInt(c.indices as EncodedTensor);
    it(`${c.id}: ${c.error}`, () => {
      const op = getOp(c.fn)!;
      const input = zerosF32(shape);
      const message = c.message as string;
      if (message.startsWith('Found an invalid max index')) {
        // Needs the index values: plan() accepts the call, forward() rejects it.
        expect(() => op.plan({ input: shape, indices: indices.shape }, c.params)).not.toThrow();
      } else {
        expectRejection(() => op.plan({ input: shape, indices: indices.shape }, c.params), c.error as string, message);
      }
      expectRejection(() => op.forward({ input, indices }, c.params), c.error as string, message);
    });
  }
});

describe('max unpooling: arguments', () => {
  const idx = (shape: number[]): IntTensor => ({ shape, dtype: 'int64', data: new Int32Array(shape.reduce((a, b) => a * b, 1)) });

  it('the default size has no dilation or ceil term: (in - 1) * s + k - 2p', () => {
    expect(unpool.planMaxUnpool(2, [1, 1, 3, 4], [1, 1, 3, 4], { kernel_size: 3, stride: 2, padding: 1 }).outputShape).toEqual([1, 1, 5, 7]);
    expect(unpool.planMaxUnpool(3, [2, 2, 3, 4], [2, 2, 3, 4], { kernel_size: [1, 2, 3] }).outputShape).toEqual([2, 2, 6, 12]);
  });

  it('explicit sizes must lie strictly within one stride of the default', () => {
    const plan = (output_size: number[]) => unpool.planMaxUnpool(1, [1, 1, 4], [1, 1, 4], { kernel_size: 2, output_size });
    expect(plan([7]).outputShape).toEqual([1, 1, 7]);
    expect(plan([9]).outputShape).toEqual([1, 1, 9]);
    expectRejection(() => plan([6]), 'ValueError', 'invalid output_size "(6,)" (dim 0 must be between 6 and 10)');
    expectRejection(() => plan([1, 1, 10]), 'ValueError', 'invalid output_size "(10,)" (dim 0 must be between 6 and 10)');
  });

  it('zero-size outputs skip the index check, as ATen skips the kernel', () => {
    const input = zerosF32([0, 1, 2, 2]);
    expect(unpool.maxUnpool2d(input, idx([0, 1, 2, 2]), { kernel_size: 2 }).shape).toEqual([0, 1, 4, 4]);
  });

  it('rejects wrong types and short tuples as Python does', () => {
    const plan = (opts: object, shape = [1, 1, 2, 2]) => () => unpool.planMaxUnpool(2, shape, shape, opts as never);
    expectRejection(plan({ kernel_size: 2.5 }), 'TypeError', "max_unpool2d(): argument 'kernel_size' must be tuple of ints, not float");
    expectRejection(plan({ kernel_size: 2, output_size: 4 }), 'TypeError', "max_unpool2d(): argument 'output_size' must be tuple of ints, not int");
    expectRejection(plan({ kernel_size: 2, stride: [2] }), 'IndexError', 'tuple index out of range');
    expectRejection(plan({ kernel_size: 2 }, [4]), 'IndexError', 'tuple index out of range');
    expectRejection(plan({}), 'TypeError', "max_unpool2d() missing 1 required positional argument: 'kernel_size'");
  });

  it('max_unpool3d checks the stride but 2d does not see it', () => {
    expect(unpool.planMaxUnpool(2, [1, 1, 2, 2], [1, 1, 2, 2], { kernel_size: 2, stride: 0 }).outputShape).toEqual([1, 1, 2, 2]);
    expectRejection(
      () => unpool.planMaxUnpool(3, [1, 1, 2, 2, 2], [1, 1, 2, 2, 2], { kernel_size: 2, stride: [1, 0, 1] }),
      'RuntimeError',
      'strides should be greater than zero, but got stride: [1, 0, 1]',
    );
  });

  it('backward rejects a gradient of the wrong shape', () => {
    const input = zerosF32([1, 1, 2, 2]);
    expect(() => unpool.maxUnpool2dBackward(zerosF32([1, 1, 3, 3]), input, idx([1, 1, 2, 2]), { kernel_size: 2 })).toThrow(KernelArgumentError);
  });
});

/** The rule written out: zero-fill, then write every input to its plane's index in memory order. */
function naiveUnpool(x: ArrayLike<number>, idx: ArrayLike<number>, planes: number, inPlane: number, outPlane: number) {
  const out = new Array<number>(planes * outPlane).fill(0);
  for (let i = 0; i < planes * inPlane; i++) out[Math.floor(i / inPlane) * outPlane + idx[i]!] = x[i]!;
  return out;
}

const unpoolCase = fc
  .record({
    dims: fc.constantFrom(1, 2, 3) as fc.Arbitrary<1 | 2 | 3>,
    lead: fc.constantFrom<number[]>([2], [1, 2], [2, 3]),
    spatial: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    kernel: fc.integer({ min: 1, max: 3 }),
    stride: fc.integer({ min: 1, max: 3 }),
    seed: fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 64, maxLength: 64 }),
  })
  .map(({ dims, lead, spatial, kernel, stride, seed }) => {
    const inSpatial = spatial.slice(0, dims);
    const inputShape = [...lead, ...inSpatial];
    const outSpatial = inSpatial.map((n) => (n - 1) * stride + kernel);
    const planes = lead.reduce((a, b) => a * b, 1);
    const inPlane = inSpatial.reduce((a, b) => a * b, 1);
    const outPlane = outSpatial.reduce((a, b) => a * b, 1);
    const count = planes * inPlane;
    // Few distinct targets, so duplicate indices (last write wins) are common.
    const targets = Math.max(1, Math.min(outPlane, 3));
    const indices = Array.from({ length: count }, (_, i) => (seed[i % 64]! + i) % (i % 2 ? targets : outPlane));
    const values = Array.from({ length: count }, (_, i) => (seed[(i * 7) % 64]! % 9) - 4);
    return { dims, inputShape, outShape: [...lead, ...outSpatial], planes, inPlane, outPlane, indices, values, kernel, stride };
  });

describe('max unpooling: properties against the written-out rule', () => {
  it('forward: zero-fill and last write wins; backward: gather', () => {
    fc.assert(
      fc.property(unpoolCase, (c) => {
        const input: FloatTensor = { shape: c.inputShape, dtype: 'float32', data: Float32Array.from(c.values) };
        const indices: IntTensor = { shape: c.inputShape, dtype: 'int64', data: Int32Array.from(c.indices) };
        const opts = { kernel_size: c.kernel, stride: c.stride };
        const forward = [unpool.maxUnpool1d, unpool.maxUnpool2d, unpool.maxUnpool3d][c.dims - 1]!;
        const backward = [unpool.maxUnpool1dBackward, unpool.maxUnpool2dBackward, unpool.maxUnpool3dBackward][c.dims - 1]!;
        const out = forward(input, indices, opts);
        expect(out.shape).toEqual(c.outShape);
        expect(Array.from(out.data)).toEqual(naiveUnpool(c.values, c.indices, c.planes, c.inPlane, c.outPlane));
        const grad: Tensor = { shape: c.outShape, dtype: 'float32', data: Float32Array.from(out.data, (_, i) => i * 0.25) };
        const gradInput = backward(grad as FloatTensor, input, indices, opts);
        const expected = c.indices.map((k, i) => (Math.floor(i / c.inPlane) * c.outPlane + k) * 0.25);
        expect(Array.from(gradInput.data)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});
