import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { avgPool1d, avgPool1dBackward, avgPool2d, avgPool2dBackward, avgPool3d, avgPool3dBackward } from '../../../src/kernels/pooling/avg_pool.js';
import { lpPool1d, lpPool1dBackward, lpPool2d, lpPool2dBackward } from '../../../src/kernels/pooling/lp_pool.js';
import { maxPool1d, maxPool1dBackward, maxPool2d, maxPool2dBackward, maxPool3d, maxPool3dBackward } from '../../../src/kernels/pooling/max_pool.js';
import type { FloatDtype, FloatTensor, IntTensor } from '../../../src/kernels/tensor.js';
import {
  naiveAvgPool,
  naiveAvgPoolBackward,
  naiveLayout,
  naiveMaxPool,
  naiveMaxPoolBackward,
  type NaiveDims,
  type Round,
} from './naive_pool.js';

type Options = Record<string, unknown>;
const maxPools = [
  [maxPool1d, maxPool1dBackward],
  [maxPool2d, maxPool2dBackward],
  [maxPool3d, maxPool3dBackward],
] as unknown as [
  (x: FloatTensor, o: Options) => { output: FloatTensor; indices: IntTensor },
  (g: FloatTensor, x: FloatTensor, i: IntTensor, o: Options) => FloatTensor,
][];
const avgPools = [
  [avgPool1d, avgPool1dBackward],
  [avgPool2d, avgPool2dBackward],
  [avgPool3d, avgPool3dBackward],
] as unknown as [(x: FloatTensor, o: Options) => FloatTensor, (g: FloatTensor, x: FloatTensor, o: Options) => FloatTensor][];
const lpPools = [
  [lpPool1d, lpPool1dBackward],
  [lpPool2d, lpPool2dBackward],
] as unknown as [(x: FloatTensor, o: Options) => FloatTensor, (g: FloatTensor, x: FloatTensor, o: Options) => FloatTensor][];

const RUNS = 150;
const float32 = (min: number, max: number) => fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true });

/** Input values: small integers (many ties), float32 values, and now and then NaN or an infinity. */
const inputValue = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -2, max: 2 }) },
  { weight: 4, arbitrary: float32(-4, 4) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity) },
);

interface DimSpec {
  kernel: number;
  stride: number;
  dilation: number;
  padding: number;
  size: number;
}

/**
 * One spatial dim: padding up to PyTorch's limit (kernel / 2), and an input long enough for one
 * window (at least the kernel itself when asked: avg_pool3d requires it, and LP pooling has no padding).
 */
function dimSpec(withDilation: boolean, inputAtLeastKernel: boolean): fc.Arbitrary<DimSpec> {
  return fc
    .record({
      kernel: fc.integer({ min: 1, max: 4 }),
      stride: fc.integer({ min: 1, max: 3 }),
      dilation: withDilation ? fc.integer({ min: 1, max: 3 }) : fc.constant(1),
      pad: fc.integer({ min: 0, max: 2 }),
      extra: fc.integer({ min: 0, max: 4 }),
    })
    .map(({ kernel, stride, dilation, pad, extra }) => {
      const padding = Math.min(pad, Math.floor(kernel / 2));
      const shortest = Math.max(1, dilation * (kernel - 1) + 1 - 2 * padding, inputAtLeastKernel ? kernel : 1);
      return { kernel, stride, dilation, padding, size: shortest + extra };
    });
}

interface PoolCase {
  rank: number;
  shape: number[];
  dims: NaiveDims;
  options: Options;
  input: number[];
  gradOutput: number[];
}

/** An int argument the way a caller may write it: a bare int when every dim agrees, else a tuple. */
const asArgument = (values: number[], bare: boolean) => (bare && values.every((v) => v === values[0]) ? values[0] : values);

function poolCase(family: 'max' | 'avg', value: fc.Arbitrary<number>): fc.Arbitrary<PoolCase> {
  return fc
    .integer({ min: 1, max: 3 })
    .chain((rank) =>
      fc.record({
        rank: fc.constant(rank),
        specs: fc.array(dimSpec(family === 'max', family === 'avg' && rank === 3), { minLength: rank, maxLength: rank }),
        leading: fc.oneof(fc.tuple(fc.integer({ min: 1, max: 2 })), fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 2 }))),
        ceilMode: fc.boolean(),
        strideOmitted: fc.boolean(),
        bare: fc.boolean(),
        returnIndices: fc.boolean(),
        countIncludePad: fc.boolean(),
        divisorOverride: rank === 1 ? fc.constant(null) : fc.option(fc.integer({ min: -3, max: 6 }).filter((v) => v !== 0), { nil: null }),
      }),
    )
    .chain((spec) => {
      const kernel = spec.specs.map((d) => d.kernel);
      const dims: NaiveDims = {
        kernel,
        stride: spec.strideOmitted ? kernel : spec.specs.map((d) => d.stride),
        padding: spec.specs.map((d) => d.padding),
        dilation: spec.specs.map((d) => d.dilation),
        ceilMode: spec.ceilMode,
      };
      const options: Options = {
        kernel_size: asArgument(kernel, spec.bare),
        stride: spec.strideOmitted ? null : asArgument(dims.stride as number[], spec.bare),
        padding: asArgument(dims.padding as number[], spec.bare),
        ceil_mode: spec.ceilMode,
      };
      if (family === 'max') {
        options['dilation'] = asArgument(dims.dilation as number[], spec.bare);
        options['return_indices'] = spec.returnIndices;
      } else {
        options['count_include_pad'] = spec.countIncludePad;
        if (spec.rank > 1) options['divisor_override'] = spec.divisorOverride;
      }
      const shape = [...spec.leading, ...spec.specs.map((d) => d.size)];
      const size = shape.reduce((a, b) => a * b, 1);
      const outputSize = naiveLayout(shape, dims).outShape.reduce((a, b) => a * b, 1);
      return fc.record({
        rank: fc.constant(spec.rank),
        shape: fc.constant(shape),
        dims: fc.constant(dims),
        options: fc.constant(options),
        input: fc.array(value, { minLength: size, maxLength: size }),
        gradOutput: fc.array(float32(-2, 2), { minLength: outputSize, maxLength: outputSize }),
      });
    });
}

function tensor(dtype: FloatDtype, shape: number[], values: number[]): FloatTensor {
  return { shape, dtype, data: dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values) };
}

const precisions: [FloatDtype, Round][] = [
  ['float32', Math.fround],
  ['float64', (v) => v],
];

describe('max pooling agrees with a naive reference', () => {
  for (const [dtype, round] of precisions) {
    it(`forward, indices and backward in ${dtype}`, () => {
      fc.assert(
        fc.property(poolCase('max', inputValue), (c) => {
          const [forward, backward] = maxPools[c.rank - 1]!;
          const input = tensor(dtype, c.shape, c.input);
          const expected = naiveMaxPool(c.input, c.shape, c.dims);
          const { output, indices } = forward(input, c.options);
          expect(output.shape).toEqual(naiveLayout(c.shape, c.dims).outShape);
          expect(Array.from(output.data)).toEqual(expected.output);
          // A window lying entirely in the padding (possible with dilation) reads nothing, so no index is defined for it.
          expected.indices.forEach((index, o) => index === null || expect(indices.data[o]).toBe(index));
          if (expected.indices.includes(null)) return;
          const gradInput = backward(tensor(dtype, output.shape as number[], c.gradOutput), input, indices, c.options);
          expect(Array.from(gradInput.data)).toEqual(naiveMaxPoolBackward(c.gradOutput, expected.indices, c.shape, c.dims, round));
        }),
        { numRuns: RUNS },
      );
    });
  }
});

describe('avg pooling agrees with a naive reference', () => {
  for (const [dtype, round] of precisions) {
    it(`forward and backward in ${dtype}`, () => {
      fc.assert(
        fc.property(poolCase('avg', inputValue), (c) => {
          const [forward, backward] = avgPools[c.rank - 1]!;
          const avgOptions = {
            countIncludePad: c.options['count_include_pad'] as boolean,
            divisorOverride: (c.options['divisor_override'] ?? null) as number | null,
          };
          const input = tensor(dtype, c.shape, c.input);
          const output = forward(input, c.options);
          expect(output.shape).toEqual(naiveLayout(c.shape, c.dims).outShape);
          expect(Array.from(output.data)).toEqual(naiveAvgPool(c.input, c.shape, c.dims, avgOptions, round));
          const gradInput = backward(tensor(dtype, output.shape as number[], c.gradOutput), input, c.options);
          expect(Array.from(gradInput.data)).toEqual(naiveAvgPoolBackward(c.gradOutput, c.shape, c.dims, avgOptions, round));
        }),
        { numRuns: RUNS },
      );
    });
  }
});

/** d/dx of sum(f(x) * gradOutput) by central differences, one input element at a time. */
function finiteDifference(f: (x: FloatTensor) => FloatTensor, x: FloatTensor, gradOutput: readonly number[], h: number): number[] {
  const objective = (t: FloatTensor) => {
    const output = f(t).data;
    let sum = 0;
    for (let i = 0; i < output.length; i++) sum += output[i]! * gradOutput[i]!;
    return sum;
  };
  return Array.from(x.data, (_, i) => {
    const plus = tensor('float64', x.shape as number[], Array.from(x.data));
    const minus = tensor('float64', x.shape as number[], Array.from(x.data));
    plus.data[i] += h;
    minus.data[i] -= h;
    return (objective(plus) - objective(minus)) / (2 * h);
  });
}

function expectNear(actual: ArrayLike<number>, expected: readonly number[], atol: number, rtol: number) {
  expected.forEach((b, i) => expect(Math.abs(actual[i]! - b)).toBeLessThanOrEqual(atol + rtol * Math.abs(b)));
}

describe('backward agrees with finite differences (float64)', () => {
  const smallCase = (family: 'max' | 'avg', value: fc.Arbitrary<number>) =>
    poolCase(family, value).filter((c) => c.input.length > 0 && c.input.length <= 48);

  it('avg pooling (linear, so differences are exact up to rounding)', () => {
    fc.assert(
      fc.property(smallCase('avg', float32(-4, 4)), (c) => {
        const [forward, backward] = avgPools[c.rank - 1]!;
        const input = tensor('float64', c.shape, c.input);
        const output = forward(input, c.options);
        const gradInput = backward(tensor('float64', output.shape as number[], c.gradOutput), input, c.options);
        expectNear(gradInput.data, finiteDifference((x) => forward(x, c.options), input, c.gradOutput, 1e-3), 1e-9, 1e-9);
      }),
      { numRuns: 40 },
    );
  });

  it('LP pooling on positive inputs, where it is smooth', () => {
    const lpCase = fc
      .record({
        rank: fc.integer({ min: 1, max: 2 }),
        normType: fc.constantFrom(1, 2, 3, 1.5, 4),
        ceilMode: fc.boolean(),
        strideOmitted: fc.boolean(),
        specs: fc.array(dimSpec(false, true), { minLength: 2, maxLength: 2 }),
      })
      .chain(({ rank, normType, ceilMode, strideOmitted, specs }) => {
        const dims = specs.slice(0, rank);
        const shape = [1, 2, ...dims.map((d) => d.size)];
        const kernel = dims.map((d) => d.kernel);
        const options: Options = {
          norm_type: normType,
          kernel_size: rank === 1 ? kernel[0] : kernel,
          stride: strideOmitted ? null : dims.map((d) => d.stride),
          ceil_mode: ceilMode,
        };
        const size = shape.reduce((a, b) => a * b, 1);
        return fc.record({
          rank: fc.constant(rank),
          shape: fc.constant(shape),
          options: fc.constant(options),
          input: fc.array(fc.double({ min: 0.5, max: 2, noNaN: true }), { minLength: size, maxLength: size }),
        });
      })
      .filter((c) => c.input.length <= 48);

    fc.assert(
      fc.property(lpCase, (c) => {
        const [forward, backward] = lpPools[c.rank - 1]!;
        const input = tensor('float64', c.shape, c.input);
        const output = forward(input, c.options);
        const gradOutput = Array.from(output.data, (_, i) => ((i % 5) - 2) / 2);
        const gradInput = backward(tensor('float64', output.shape as number[], gradOutput), input, c.options);
        expectNear(gradInput.data, finiteDifference((x) => forward(x, c.options), input, gradOutput, 1e-6), 1e-7, 1e-6);
      }),
      { numRuns: 40 },
    );
  });
});

describe('LP pooling is the scaled power mean of each window', () => {
  it('(K / n * sum(x^p))^(1/p) over the n in-bounds cells of a window of kernel volume K (float64)', () => {
    const lpCase = fc
      .record({
        normType: fc.constantFrom(1, 2, 3, 1.5),
        spec: dimSpec(false, true),
        ceilMode: fc.boolean(),
        input: fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 12, maxLength: 12 }),
      })
      .map((c) => ({ ...c, input: c.input.slice(0, c.spec.size) }))
      .filter((c) => c.input.length === c.spec.size);

    fc.assert(
      fc.property(lpCase, ({ normType, spec, ceilMode, input }) => {
        const options = { norm_type: normType, kernel_size: spec.kernel, stride: spec.stride, ceil_mode: ceilMode };
        const output = lpPool1d(tensor('float64', [1, input.length], input), options);
        const dims: NaiveDims = { kernel: [spec.kernel], stride: [spec.stride], padding: [0], dilation: [1], ceilMode };
        const outSize = naiveLayout([1, input.length], dims).outSizes[0]!;
        expect(output.shape).toEqual([1, outSize]);
        for (let o = 0; o < outSize; o++) {
          const cells = input.slice(o * spec.stride, Math.min(o * spec.stride + spec.kernel, input.length));
          const powerSum = cells.reduce((sum, v) => sum + v ** normType, 0);
          const expected = ((spec.kernel / cells.length) * powerSum) ** (1 / normType);
          expect(Math.abs(output.data[o]! - expected)).toBeLessThanOrEqual(1e-12 * (1 + expected));
        }
      }),
      { numRuns: RUNS },
    );
  });
});
