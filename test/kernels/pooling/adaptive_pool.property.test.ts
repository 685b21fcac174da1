import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as adaptive from '../../../src/kernels/pooling/adaptive_pool.js';
import { windowCells } from '../../../src/kernels/pooling/adaptive_geometry.js';
import { getOp } from '../../../src/kernels/registry.js';
import type { FloatTensor, IntTensor } from '../../../src/kernels/tensor.js';

type Dims = 1 | 2 | 3;

const avgForward = [adaptive.adaptiveAvgPool1d, adaptive.adaptiveAvgPool2d, adaptive.adaptiveAvgPool3d];
const avgBackward = [adaptive.adaptiveAvgPool1dBackward, adaptive.adaptiveAvgPool2dBackward, adaptive.adaptiveAvgPool3dBackward];
const maxForward = [adaptive.adaptiveMaxPool1d, adaptive.adaptiveMaxPool2d, adaptive.adaptiveMaxPool3d];
const maxBackward = [adaptive.adaptiveMaxPool1dBackward, adaptive.adaptiveMaxPool2dBackward, adaptive.adaptiveMaxPool3dBackward];

// ---- A deliberately naive reference, written from the rules ----

/** Output i of O over an input of L reads [floor(i*L/O), ceil((i+1)*L/O)). */
function window(i: number, inSize: number, outSize: number): [number, number] {
  return [Math.floor((i * inSize) / outSize), Math.ceil(((i + 1) * inSize) / outSize)];
}

interface Case {
  dims: Dims;
  lead: number[];
  spatial: number[];
  /** As passed to PyTorch: entries may be null in 2d and 3d. */
  outputSize: (number | null)[];
  /** The sizes it resolves to. */
  outSpatial: number[];
  values: number[];
  grads: number[];
}

/** Calls `visit(plane, outputIndex, cells)` for every output, cells in row-major window order. */
function forEachWindow(c: Case, visit: (plane: number, o: number, cells: number[], extents: number[]) => void) {
  const inSize = [...new Array(3 - c.dims).fill(1), ...c.spatial];
  const outSize = [...new Array(3 - c.dims).fill(1), ...c.outSpatial];
  const planes = c.lead.reduce((a, b) => a * b, 1);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    for (let od = 0; od < outSize[0]!; od++) {
      for (let oh = 0; oh < outSize[1]!; oh++) {
        for (let ow = 0; ow < outSize[2]!; ow++) {
          const [d0, d1] = window(od, inSize[0]!, outSize[0]!);
          const [h0, h1] = window(oh, inSize[1]!, outSize[1]!);
          const [w0, w1] = window(ow, inSize[2]!, outSize[2]!);
          const cells: number[] = [];
          for (let d = d0; d < d1; d++) for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) cells.push((d * inSize[1]! + h) * inSize[2]! + w);
          visit(p, o++, cells, [d1 - d0, h1 - h0, w1 - w0]);
        }
      }
    }
  }
}

function planeSize(c: Case) {
  return c.spatial.reduce((a, b) => a * b, 1);
}

/** float32 sum in window order, then `/ kD / kH / kW`, each a float32 division. */
function naiveAvg(c: Case): number[] {
  const out: number[] = [];
  forEachWindow(c, (p, _o, cells, [kd, kh, kw]) => {
    let sum = 0;
    for (const cell of cells) sum = Math.fround(sum + c.values[p * planeSize(c) + cell]!);
    out.push(Math.fround(Math.fround(Math.fround(sum / kd!) / kh!) / kw!));
  });
  return out;
}

function naiveAvgBackward(c: Case): number[] {
  const grad = new Float32Array(c.values.length);
  forEachWindow(c, (p, o, cells, [kd, kh, kw]) => {
    const delta = Math.fround(Math.fround(Math.fround(c.grads[o]! / kd!) / kh!) / kw!);
    for (const cell of cells) grad[p * planeSize(c) + cell] += delta;
  });
  return Array.from(grad);
}

/** Scan from -inf; take a value when it is greater or NaN. */
function naiveMax(c: Case): { values: number[]; indices: number[] } {
  const values: number[] = [];
  const indices: number[] = [];
  forEachWindow(c, (p, _o, cells) => {
    let best = -Infinity;
    let arg = cells[0]!;
    for (const cell of cells) {
      const v = c.values[p * planeSize(c) + cell]!;
      if (v > best || Number.isNaN(v)) {
        best = v;
        arg = cell;
      }
    }
    values.push(best);
    indices.push(arg);
  });
  return { values, indices };
}

// ---- Random cases ----

const valueArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 2 }) }, // many ties
  { weight: 6, arbitrary: fc.float({ min: -4, max: 4, noNaN: true }).map(Math.fround) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, -Infinity, Infinity) },
);

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    dims: fc.constantFrom<Dims>(1, 2, 3),
    lead: fc.constantFrom<number[]>([2], [1, 2], [2, 1]),
    spatial: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 3, maxLength: 3 }),
    // Output sizes from 1 to twice the input: smaller, equal and larger than the input.
    ratios: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }),
    none: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    pool: fc.array(valueArb, { minLength: 61, maxLength: 61 }),
    gradSeed: fc.array(fc.integer({ min: 0, max: 16 }), { minLength: 16, maxLength: 16 }),
  })
  .map(({ dims, lead, spatial, ratios, none, pool, gradSeed }) => {
    const inSpatial = spatial.slice(0, dims);
    const outSpatial = inSpatial.map((n, i) => 1 + Math.floor(ratios[i]! * 2 * n));
    const outputSize = outSpatial.map((o, i) => (dims > 1 && none[i] && o === inSpatial[i] ? null : o));
    const n = lead.reduce((a, b) => a * b, 1) * inSpatial.reduce((a, b) => a * b, 1);
    const m = lead.reduce((a, b) => a * b, 1) * outSpatial.reduce((a, b) => a * b, 1);
    // Inputs cycle through a pool of 61 random values (a prime, so windows see varied mixes).
    const values = Array.from({ length: n }, (_, i) => pool[i % 61]!);
    return { dims, lead, spatial: inSpatial, outputSize, outSpatial, values, grads: Array.from({ length: m }, (_, i) => ((gradSeed[i % 16]! + 3 * i) % 17 - 8) / 4) };
  });

function tensor(shape: number[], values: number[]): FloatTensor {
  return { shape, dtype: 'float32', data: Float32Array.from(values) };
}

const sameFloat = (a: number, b: number) => (Number.isNaN(b) ? Number.isNaN(a) : a === b);

describe('adaptive pooling: properties against a naive reference', () => {
  it('avg forward and backward: window sums divided per dim', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const input = tensor([...c.lead, ...c.spatial], c.values);
        const opts = { output_size: c.dims === 1 ? c.outputSize[0]! : c.outputSize };
        const out = avgForward[c.dims - 1]!(input, opts);
        expect(out.shape).toEqual([...c.lead, ...c.outSpatial]);
        const expected = naiveAvg(c);
        const allOnes = c.outSpatial.every((o) => o === 1);
        // All-ones output sizes are computed by PyTorch (and here) as mean(), which sums in
        // another order than the sequential window sum, so the last bits may differ.
        const matches = (a: number, v: number) =>
          allOnes && Number.isFinite(v) ? Math.abs(a - v) <= 1e-6 * Math.max(1, Math.abs(v)) : sameFloat(a, v);
        const mismatch = expected.findIndex((v, i) => !matches(out.data[i]!, v));
        expect(mismatch, `output ${mismatch}: ${out.data[mismatch]} vs ${expected[mismatch]}`).toBe(-1);
        const grad = avgBackward[c.dims - 1]!(tensor(out.shape as number[], c.grads), input, opts);
        // mean()'s backward divides once, by the element count; the window rule divides per dim.
        const count = c.spatial.reduce((a, b) => a * b, 1);
        const expectedGrad = allOnes ? c.values.map((_, i) => Math.fround(c.grads[Math.floor(i / count)]! / count)) : naiveAvgBackward(c);
        // Quarter-step gradients over small windows: every sum is exact, whatever the order.
        expect(Array.from(grad.data)).toEqual(expectedGrad);
      }),
      { numRuns: 300 },
    );
  });

  it('max forward: first maximum wins ties, the last NaN wins; backward scatters to the index', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const input = tensor([...c.lead, ...c.spatial], c.values);
        const opts = { output_size: c.dims === 1 ? c.outputSize[0]! : c.outputSize, return_indices: true };
        const { output, indices } = maxForward[c.dims - 1]!(input, opts);
        const expected = naiveMax(c);
        expect(Array.from(indices.data)).toEqual(expected.indices);
        const mismatch = expected.values.findIndex((v, i) => !sameFloat(output.data[i]!, v));
        expect(mismatch, `output ${mismatch}`).toBe(-1);
        const grad = maxBackward[c.dims - 1]!(tensor(output.shape as number[], c.grads), input, indices as IntTensor, opts);
        const naive = new Float32Array(c.values.length);
        const outPlane = c.outSpatial.reduce((a, b) => a * b, 1);
        expected.indices.forEach((k, o) => (naive[Math.floor(o / outPlane) * planeSize(c) + k] += c.grads[o]!));
        expect(Array.from(grad.data)).toEqual(Array.from(naive));
      }),
      { numRuns: 300 },
    );
  });
});

describe('adaptive avg pooling: backward against finite differences (float64)', () => {
  it('grad_input is the derivative of sum(output * grad_output)', () => {
    fc.assert(
      fc.property(caseArb, fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 61, maxLength: 61 }), (c, xs) => {
        const shape = [...c.lead, ...c.spatial];
        const n = c.values.length;
        const x = Float64Array.from({ length: n }, (_, i) => xs[i % 61]! + i / 64);
        const opts = { output_size: c.dims === 1 ? c.outputSize[0]! : c.outputSize };
        const forward = avgForward[c.dims - 1]!;
        const g = Float64Array.from(c.grads.map((v, i) => v + 0.1 * Math.sin(i)));
        const objective = (data: Float64Array) => {
          const out = forward({ shape, dtype: 'float64', data }, opts).data;
          let s = 0;
          for (let i = 0; i < out.length; i++) s += out[i]! * g[i]!;
          return s;
        };
        const outShape = [...c.lead, ...c.outSpatial];
        const analytic = avgBackward[c.dims - 1]!({ shape: outShape, dtype: 'float64', data: g }, { shape, dtype: 'float64', data: x }, opts);
        const h = 1e-3;
        let worst = 0;
        for (let i = 0; i < n; i++) {
          const plus = Float64Array.from(x);
          const minus = Float64Array.from(x);
          plus[i]! += h;
          minus[i]! -= h;
          const numeric = (objective(plus) - objective(minus)) / (2 * h);
          worst = Math.max(worst, Math.abs(numeric - analytic.data[i]!));
        }
        expect(worst).toBeLessThan(1e-8);
      }),
      { numRuns: 40 },
    );
  });
});

describe('adaptive pooling: work estimate', () => {
  it('the closed-form window count equals the sum of window extents', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 200 }), (inSize, outSize) => {
        let cells = 0;
        for (let i = 0; i < outSize; i++) {
          const [start, end] = window(i, inSize, outSize);
          cells += end - start;
        }
        expect(windowCells(inSize, outSize)).toBe(cells);
      }),
    );
  });

  it('planning a huge output does not visit its windows', () => {
    const op = getOp('adaptive_avg_pool2d')!;
    const plan = op.plan({ input: [1, 1, 7, 7] }, { output_size: [1e9, 1e9] });
    expect(plan.outputs.output).toEqual([1, 1, 1e9, 1e9]);
    expect(plan.work).toBeGreaterThan(1e17);
  });
});
