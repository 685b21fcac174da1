import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../../src/kernels/errors.js';
import { getOp } from '../../../src/kernels/registry.js';
import { mean, meanBackward, meanGeometry } from '../../../src/kernels/reduction/mean.js';
import type { FloatTensor } from '../../../src/kernels/tensor.js';
import { decodeF32, decodeF64, expectClose, expectExact, loadGolden, type GoldenCase } from '../../helpers/golden.js';

const goldenCases: GoldenCase[] = [
  ...loadGolden('seed_example.json').cases.filter((c) => c.fn === 'mean'),
  ...loadGolden('layers.json').cases.filter((c) => c.fn === 'mean'),
];

describe('mean: PyTorch 1.13.1 golden cases', () => {
  it('covers the seed example and the layer cases', () => {
    expect(goldenCases.map((c) => c.id)).toEqual(['seed-m1', 'seed-m1-mean2', 'mean-hw', 'mean-hw-keepdim']);
  });

  for (const c of goldenCases) {
    // ATen's cascade_sum order is reproduced, so float32 results are bit-exact.
    it(`${c.id}: forward`, () => {
      expectExact(mean(decodeF32(c.input!) as FloatTensor, c.params), c.output!);
    });
    if (c.grad_output) {
      it(`${c.id}: backward`, () => {
        const grad = meanBackward(decodeF32(c.grad_output!) as FloatTensor, decodeF32(c.input!) as FloatTensor, c.params);
        expectExact(grad, c.grad_input!);
      });
    }
    it(`${c.id}: float64 agrees with the float32 reference`, () => {
      const out = mean(decodeF64(c.input!) as FloatTensor, c.params);
      expect(out.dtype).toBe('float64');
      expectClose(out, c.output!, 1e-6, 1e-6);
      if (c.grad_output) {
        const grad = meanBackward(decodeF64(c.grad_output) as FloatTensor, decodeF64(c.input!) as FloatTensor, c.params);
        expectClose(grad, c.grad_input!, 1e-7, 1e-6);
      }
    });
  }

  it('runs through the registry', () => {
    const op = getOp('mean')!;
    const c = goldenCases.find((g) => g.id === 'mean-hw-keepdim')!;
    const input = decodeF32(c.input!);
    expect(op.plan({ input: input.shape }, c.params).outputs).toEqual({ output: c.output!.shape });
    expectExact(op.forward({ input }, c.params).output, c.output!);
    expectExact(op.backward!({ input, grad_output: decodeF32(c.grad_output!) }, c.params).grad_input, c.grad_input!);
  });
});

function f32(shape: readonly number[], values: number[]): FloatTensor {
  return { shape, dtype: 'float32', data: Float32Array.from(values) };
}

function rejects(fn: () => unknown, pythonType: string, message?: string) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KernelArgumentError);
    expect((e as KernelArgumentError).pythonType).toBe(pythonType);
    if (message !== undefined) expect((e as Error).message).toBe(message);
    return;
  }
  throw new Error('expected an error');
}

describe('mean: arguments', () => {
  const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);

  it('dim=None and an empty dim list reduce every dim', () => {
    expect([...mean(x, {}).data]).toEqual([3.5]);
    expect(mean(x, { dim: null }).shape).toEqual([]);
    expect(mean(x, { dim: [] }).shape).toEqual([]);
    expect(mean(x, { dim: null, keepdim: true }).shape).toEqual([1, 1]);
  });

  it('negative dims count from the end; keepdim keeps size-1 dims', () => {
    expect([...mean(x, { dim: -1 }).data]).toEqual([2, 5]);
    expect(mean(x, { dim: [-2], keepdim: true }).shape).toEqual([1, 3]);
    expect([...mean(x, { dim: 0 }).data]).toEqual([2.5, 3.5, 4.5]);
  });

  it('a 0-dim tensor accepts dim 0 and -1', () => {
    const s = f32([], [7]);
    expect(mean(s, { dim: 0 }).shape).toEqual([]);
    expect([...mean(s, { dim: -1 }).data]).toEqual([7]);
    rejects(() => mean(s, { dim: 1 }), 'IndexError', 'Dimension out of range (expected to be in range of [-1, 0], but got 1)');
  });

  it('the mean of nothing is NaN', () => {
    expect(Number.isNaN(mean(f32([2, 0], []), { dim: 1 }).data[0])).toBe(true);
    expect(mean(f32([0, 3], []), { dim: 1 }).shape).toEqual([0]);
  });

  it('rejects bad dims with PyTorch messages', () => {
    rejects(() => mean(x, { dim: 2 }), 'IndexError', 'Dimension out of range (expected to be in range of [-2, 1], but got 2)');
    rejects(() => mean(x, { dim: [1, -1] }), 'RuntimeError', 'dim 1 appears multiple times in the list of dims');
    rejects(() => meanGeometry([2, 3], { dim: 1.5 }), 'TypeError');
    rejects(() => meanGeometry([2, 3], { dim: [0, 'a'] }), 'TypeError');
    rejects(() => meanGeometry([2, 3], { dim: 0, keepdim: 1 }), 'TypeError');
  });

  it('backward checks the gradient shape', () => {
    rejects(() => meanBackward(f32([3], [1, 1, 1]), x, { dim: 1 }), 'RuntimeError');
  });
});

/** The textbook mean, in float64 over every index, for comparison. */
function naiveMean(data: ArrayLike<number>, shape: number[], dims: number[], keepdim: boolean) {
  const reduced = shape.map((_, d) => dims.includes(d));
  const outShape = shape.flatMap((s, d) => (reduced[d] ? (keepdim ? [1] : []) : [s]));
  const sums = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  const counts = new Float64Array(sums.length);
  const index = shape.map(() => 0);
  for (let i = 0; i < data.length; i++) {
    let o = 0;
    for (let d = 0; d < shape.length; d++) if (!reduced[d]) o = o * shape[d]! + index[d]!;
    sums[o]! += data[i]!;
    counts[o]!++;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
  return { shape: outShape, values: Array.from(sums, (s, o) => s / counts[o]!) };
}

const shapeAndDims = fc
  .array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 })
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      dims: fc.subarray(shape.map((_, d) => d), { minLength: 1 }),
      keepdim: fc.boolean(),
      ints: fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1296, maxLength: 1296 }),
    }),
  );

describe('mean: properties against a naive reference', () => {
  it('small-integer data gives exact means whatever the summation order', () => {
    fc.assert(
      fc.property(shapeAndDims, ({ shape, dims, keepdim, ints }) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = ints.slice(0, n);
        const out = mean(f32(shape, data), { dim: dims, keepdim });
        const ref = naiveMean(data, shape, dims, keepdim);
        expect(out.shape).toEqual(ref.shape);
        ref.values.forEach((v, i) => expect(out.data[i]).toBe(Math.fround(v)));
      }),
      { numRuns: 150 },
    );
  });

  it('float64 input is computed in float64', () => {
    fc.assert(
      fc.property(shapeAndDims, ({ shape, dims, keepdim, ints }) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = ints.slice(0, n).map((v) => v / 7);
        const out = mean({ shape, dtype: 'float64', data: Float64Array.from(data) }, { dim: dims, keepdim });
        const ref = naiveMean(data, shape, dims, keepdim);
        ref.values.forEach((v, i) => expect(Math.abs(out.data[i]! - v)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v))));
      }),
      { numRuns: 100 },
    );
  });

  it('backward spreads grad / count to every averaged element', () => {
    fc.assert(
      fc.property(shapeAndDims, ({ shape, dims, keepdim, ints }) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const input = f32(shape, ints.slice(0, n));
        const { outputShape, count } = meanGeometry(shape, { dim: dims, keepdim });
        const m = outputShape.reduce((a, b) => a * b, 1);
        const grad = f32(outputShape, ints.slice(0, m).map((v) => v / 4));
        const gradInput = meanBackward(grad, input, { dim: dims, keepdim });
        // Broadcasting grad back: the mean of each output's share of grad_input is grad / count.
        const back = naiveMean(gradInput.data, shape, dims, keepdim);
        back.values.forEach((v, i) => expect(v).toBeCloseTo(grad.data[i]! / count, 6));
      }),
      { numRuns: 100 },
    );
  });

  it('long float32 reductions stay accurate (the cascade keeps partial sums small)', () => {
    const n = 1 << 20;
    const out = mean(f32([n], new Array<number>(n).fill(0.1)), {});
    expect(Math.abs(out.data[0]! - Math.fround(0.1))).toBeLessThan(1e-7);
  });
});

/**
 * A literal transcription of ATen's cascade_sum for float32 (SumKernel.cpp, 8-lane vectors), kept
 * unoptimised: vectors are arrays, every add is a float32 add. The kernel's faster code must agree.
 */
namespace atenSum {
  const LANES = 8;
  type Add<T> = (a: T, b: T) => T;
  const addScalar: Add<number> = (a, b) => Math.fround(a + b);
  const addVector: Add<number[]> = (a, b) => a.map((v, i) => Math.fround(v + b[i]!));
  const ceilLog2 = (x: number) => (x <= 2 ? 1 : Math.ceil(Math.log2(x)));

  function multiRowSum<T>(load: (i: number, k: number) => T, zero: () => T, add: Add<T>, nrows: number, size: number): T[] {
    const levelPower = Math.max(4, Math.floor(ceilLog2(size) / 4));
    const levelStep = 1 << levelPower;
    const levelMask = levelStep - 1;
    const acc = Array.from({ length: 4 }, () => Array.from({ length: nrows }, zero));
    let i = 0;
    for (; i + levelStep <= size; ) {
      for (let j = 0; j < levelStep; j++, i++) for (let k = 0; k < nrows; k++) acc[0]![k] = add(acc[0]![k]!, load(i, k));
      for (let j = 1; j < 4; j++) {
        for (let k = 0; k < nrows; k++) {
          acc[j]![k] = add(acc[j]![k]!, acc[j - 1]![k]!);
          acc[j - 1]![k] = zero();
        }
        if ((i & (levelMask << (j * levelPower))) !== 0) break;
      }
    }
    for (; i < size; i++) for (let k = 0; k < nrows; k++) acc[0]![k] = add(acc[0]![k]!, load(i, k));
    for (let j = 1; j < 4; j++) for (let k = 0; k < nrows; k++) acc[0]![k] = add(acc[0]![k]!, acc[j]![k]!);
    return acc[0]!;
  }

  function rowSum<T>(load: (i: number) => T, zero: () => T, add: Add<T>, size: number): T {
    const sizeIlp = Math.floor(size / 4);
    const partial = multiRowSum((i, k) => load(i * 4 + k), zero, add, 4, sizeIlp);
    for (let i = sizeIlp * 4; i < size; i++) partial[0] = add(partial[0]!, load(i));
    for (let k = 1; k < 4; k++) partial[0] = add(partial[0]!, partial[k]!);
    return partial[0]!;
  }

  const vecZero = () => new Array<number>(LANES).fill(0);
  const loadVec = (x: Float32Array, at: number) => Array.from(x.subarray(at, at + LANES));

  /** vectorized_inner_sum of one contiguous row (n >= 8). */
  export function innerRow(x: Float32Array, base: number, n: number): number {
    const vecSize = Math.floor(n / LANES);
    const vecAcc = rowSum((i) => loadVec(x, base + i * LANES), vecZero, addVector, vecSize);
    let final = 0;
    for (let k = vecSize * LANES; k < n; k++) final = addScalar(final, x[base + k]!);
    for (const lane of vecAcc) final = addScalar(final, lane);
    return final;
  }

  /** vectorized_outer_sum over the rows of an [rows, cols] tensor (cols >= 8), column sums. */
  export function outerColumns(x: Float32Array, rows: number, cols: number): number[] {
    const sums = new Array<number>(cols).fill(0);
    let j = 0;
    for (; j + 4 * LANES <= cols; j += 4 * LANES) {
      const s = multiRowSum((i, k) => loadVec(x, i * cols + j + k * LANES), vecZero, addVector, 4, rows);
      s.forEach((v, k) => v.forEach((lane, l) => (sums[j + k * LANES + l] = lane)));
    }
    for (; j + LANES <= cols; j += LANES) {
      rowSum((i) => loadVec(x, i * cols + j), vecZero, addVector, rows).forEach((lane, l) => (sums[j + l] = lane));
    }
    for (; j < cols; j++) sums[j] = rowSum((i) => x[i * cols + j]!, () => 0, addScalar, rows);
    return sums;
  }
}

describe('mean: the summation order is ATen cascade_sum order', () => {
  const values = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed + i * 12.9898) * 2 ** ((i * 7 + seed) % 13 - 4)));

  it('long contiguous rows (the cascade levels)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 4000 }), fc.integer({ min: 1, max: 3 }), fc.nat(1000), (n, rows, seed) => {
        const x = values(rows * n, seed);
        const out = mean({ shape: [rows, n], dtype: 'float32', data: x }, { dim: 1 });
        for (let r = 0; r < rows; r++) expect(out.data[r]).toBe(Math.fround(atenSum.innerRow(x, r * n, n) / n));
      }),
      { numRuns: 60 },
    );
  });

  it('reductions over an outer dim (vectorised over columns)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 8, max: 80 }), fc.nat(1000), (rows, cols, seed) => {
        const x = values(rows * cols, seed);
        const out = mean({ shape: [rows, cols], dtype: 'float32', data: x }, { dim: 0 });
        const expected = atenSum.outerColumns(x, rows, cols).map((s) => Math.fround(s / rows));
        expect(Array.from(out.data)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });
});
