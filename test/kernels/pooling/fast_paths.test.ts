/**
 * The float32 2d paths of max and avg pooling (interior windows unrolled or gathered, clipped
 * windows at the edges) against the naive reference, on planes large enough to have an interior
 * and with values that stress the rules: ties, -0, NaN and infinities. And the float32 global
 * average pool, which must stay the mean() it is in PyTorch, bit for bit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveAvgPool1d, adaptiveAvgPool2d, adaptiveAvgPool3d } from '../../../src/kernels/pooling/adaptive_avg_pool.js';
import { avgPool2d, avgPool2dBackward } from '../../../src/kernels/pooling/avg_pool.js';
import { maxPool2d, maxPool2dBackward } from '../../../src/kernels/pooling/max_pool.js';
import { mean } from '../../../src/kernels/reduction/mean.js';
import type { FloatTensor } from '../../../src/kernels/tensor.js';
import { naiveAvgPool, naiveAvgPoolBackward, naiveMaxPool, naiveMaxPoolBackward, type NaiveDims } from './naive_pool.js';

const RUNS = 60;

/** Values with many ties (small integers, zeros of both signs), now and then NaN or an infinity. */
const value: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -2, max: 2 }) },
  { weight: 1, arbitrary: fc.constant(-0) },
  { weight: 4, arbitrary: fc.float({ min: Math.fround(-1e3), max: Math.fround(1e3), noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity) },
);
/** Max pooling inputs: the mix above, or mostly -inf, where whole windows have no maximum above -inf. */
const maxValues = fc.oneof(fc.constant(value), fc.constant(fc.constantFrom(-Infinity, -Infinity, -Infinity, 1, Number.NaN)));

/**
 * Avg pooling inputs: finite values over many magnitudes, so that float32 sums round at every add,
 * or mostly -0, where a sum must start from +0 as PyTorch's does.
 */
const avgValues = fc.oneof(
  fc.constant(fc.float({ min: Math.fround(-1e6), max: Math.fround(1e6), noNaN: true, noDefaultInfinity: true })),
  fc.constant(fc.constantFrom(-0, -0, -0, 0, 1)),
);

interface Case {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  shape: number[];
}

/** Kernels of 1 to 4 (2x2 and 3x3 most often), strides 1 to 3, planes of up to 20 x 20. */
const geometry: fc.Arbitrary<Case> = fc
  .record({
    kernel: fc.oneof(fc.constantFrom<[number, number]>([2, 2], [3, 3]), fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }))),
    stride: fc.oneof(fc.constantFrom<[number, number]>([1, 1], [2, 2]), fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))),
    pad: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    extra: fc.tuple(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 16 })),
    planes: fc.integer({ min: 1, max: 3 }),
    ceilMode: fc.boolean(),
  })
  .map(({ kernel, stride, pad, extra, planes, ceilMode }) => ({
    kernel,
    stride,
    padding: [Math.min(pad[0], kernel[0] >> 1), Math.min(pad[1], kernel[1] >> 1)] as [number, number],
    ceilMode,
    shape: [planes, kernel[0] + extra[0], kernel[1] + extra[1]],
  }));

function withData(values: fc.Arbitrary<number>) {
  return geometry.chain((c) => {
    const size = c.shape.reduce((a, b) => a * b, 1);
    return fc.record({ c: fc.constant(c), data: fc.array(values, { minLength: size, maxLength: size }), seed: fc.integer() });
  });
}

const f32 = (shape: readonly number[], data: ArrayLike<number>): FloatTensor => ({ shape, dtype: 'float32', data: Float32Array.from(data) });

/** Deterministic gradient values for a case. */
function gradient(length: number, seed: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return Math.fround((state / 2 ** 32) * 4 - 2);
  });
}

const dimsOf = (c: Case): NaiveDims => ({ kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: [1, 1], ceilMode: c.ceilMode });

describe('float32 max_pool2d fast path agrees with the naive reference', () => {
  it('values, indices and grad_input', () => {
    fc.assert(
      fc.property(maxValues.chain(withData), ({ c, data, seed }) => {
        const options = { kernel_size: c.kernel, stride: c.stride, padding: c.padding, ceil_mode: c.ceilMode };
        const input = f32(c.shape, data);
        const rounded = Array.from(input.data);
        const expected = naiveMaxPool(rounded, c.shape, dimsOf(c));
        const { output, indices } = maxPool2d(input, options);
        expect(Array.from(output.data)).toEqual(expected.output);
        expect(Array.from(indices!.data)).toEqual(expected.indices);
        const gradOutput = gradient(output.data.length, seed);
        const gradInput = maxPool2dBackward(f32(output.shape, gradOutput), input, indices!, options);
        expect(Array.from(gradInput.data)).toEqual(naiveMaxPoolBackward(gradOutput, expected.indices, c.shape, dimsOf(c), Math.fround));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('float32 avg_pool2d fast path agrees with the naive reference', () => {
  for (const countIncludePad of [false, true]) {
    it(`forward and backward, count_include_pad=${countIncludePad}`, () => {
      fc.assert(
        fc.property(avgValues.chain(withData), fc.option(fc.integer({ min: -3, max: 7 }).filter((d) => d !== 0), { nil: null }), ({ c, data, seed }, divisorOverride) => {
          const options = {
            kernel_size: c.kernel,
            stride: c.stride,
            padding: c.padding,
            ceil_mode: c.ceilMode,
            count_include_pad: countIncludePad,
            divisor_override: divisorOverride,
          };
          const avgOptions = { countIncludePad, divisorOverride };
          const input = f32(c.shape, data);
          const output = avgPool2d(input, options);
          expect(Array.from(output.data)).toEqual(naiveAvgPool(Array.from(input.data), c.shape, dimsOf(c), avgOptions, Math.fround));
          const gradOutput = gradient(output.data.length, seed);
          const gradInput = avgPool2dBackward(f32(output.shape, gradOutput), input, options);
          expect(Array.from(gradInput.data)).toEqual(naiveAvgPoolBackward(gradOutput, c.shape, dimsOf(c), avgOptions, Math.fround));
        }),
        { numRuns: RUNS },
      );
    });
  }
});

describe('float32 adaptive_avg_pool with output size 1 is mean() bit for bit', () => {
  const pools = [
    [adaptiveAvgPool1d, 1],
    [adaptiveAvgPool2d, 2],
    [adaptiveAvgPool3d, 3],
  ] as const;
  for (const [pool, rank] of pools) {
    it(`adaptive_avg_pool${rank}d`, () => {
      const shapeArb = fc.tuple(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 2 }),
        fc.array(fc.integer({ min: 1, max: rank === 1 ? 600 : rank === 2 ? 25 : 9 }), { minLength: rank, maxLength: rank }),
      );
      fc.assert(
        fc.property(
          shapeArb.chain(([lead, spatial]) => {
            const size = [...lead, ...spatial].reduce((a, b) => a * b, 1);
            // Mostly finite values, where the order of the adds shows in the last bits.
            const values = fc.oneof({ weight: 3, arbitrary: avgValues }, { weight: 1, arbitrary: fc.constant(value) });
            return fc.record({ shape: fc.constant([...lead, ...spatial]), data: values.chain((v) => fc.array(v, { minLength: size, maxLength: size })) });
          }),
          ({ shape, data }) => {
            const input = f32(shape, data);
            const pooled = pool(input, { output_size: rank === 1 ? 1 : new Array<number>(rank).fill(1) });
            const expected = mean(input, { dim: rank === 1 ? [-1] : rank === 2 ? [-1, -2] : [-1, -2, -3], keepdim: true });
            expect(pooled.shape).toEqual(expected.shape);
            expect(Array.from(pooled.data)).toEqual(Array.from(expected.data));
          },
        ),
        { numRuns: RUNS },
      );
    });
  }

  it('over more rows than one block of the SIMD kernel holds, odd count', () => {
    // 4,999 rows of 49 floats are several 256 KiB blocks, the last one ending in rows left over from four.
    const rows = 4999;
    const data = Float32Array.from({ length: rows * 49 }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 2 ** ((i % 13) - 4)));
    const input = f32([rows, 7, 7], Array.from(data));
    const pooled = adaptiveAvgPool2d(input, { output_size: [1, 1] });
    const expected = mean(input, { dim: [-1, -2], keepdim: true });
    expect(Array.from(pooled.data)).toEqual(Array.from(expected.data));
  });
});
