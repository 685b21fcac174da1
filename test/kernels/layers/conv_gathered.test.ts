/**
 * conv2d through the gathered and scattered columns, wired into the layer: batches, groups,
 * stride, padding and dilation large enough that every product takes the table path, against a
 * direct float64 convolution written from the definition.
 */
import { describe, expect, it } from 'vitest';
import { conv2d, conv2dBackward } from '../../../src/kernels/layers/conv2d.js';
import { forwardColumns, inputColumns, weightColumns } from '../../../src/kernels/layers/gathered_columns.js';
import type { FloatTensor } from '../../../src/kernels/tensor.js';

interface Case {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  k: number;
  stride: number;
  padding: number;
  dilation: number;
  groups: number;
}

function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.fround((s >>> 8) / 2 ** 24 - 0.5);
  });
}

const out = (size: number, c: Case) => Math.floor((size + 2 * c.padding - c.dilation * (c.k - 1) - 1) / c.stride) + 1;

/** The forward and every gradient from the definition, in float64. */
function reference(c: Case, x: Float32Array, wt: Float32Array, gO: Float32Array) {
  const [oh, ow] = [out(c.h, c), out(c.w, c)];
  const cg = c.c / c.groups;
  const og = c.o / c.groups;
  const y = new Float64Array(c.n * c.o * oh * ow);
  const gx = new Float64Array(x.length);
  const gw = new Float64Array(wt.length);
  const gb = new Float64Array(c.o);
  for (let n = 0; n < c.n; n++) {
    for (let o = 0; o < c.o; o++) {
      const grp = Math.floor(o / og);
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const yi = ((n * c.o + o) * oh + i) * ow + j;
          gb[o] += gO[yi]!;
          for (let ci = 0; ci < cg; ci++) {
            const ch = grp * cg + ci;
            for (let ki = 0; ki < c.k; ki++) {
              for (let kj = 0; kj < c.k; kj++) {
                const ih = i * c.stride - c.padding + ki * c.dilation;
                const iw = j * c.stride - c.padding + kj * c.dilation;
                if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) continue;
                const xi = ((n * c.c + ch) * c.h + ih) * c.w + iw;
                const wi = ((o * cg + ci) * c.k + ki) * c.k + kj;
                y[yi] += x[xi]! * wt[wi]!;
                gx[xi] += gO[yi]! * wt[wi]!;
                gw[wi] += gO[yi]! * x[xi]!;
              }
            }
          }
        }
      }
    }
  }
  return { y, gx, gw, gb, shape: [c.n, c.o, oh, ow] };
}

/** float32 sums of a few dozen products against float64: |a - b| <= 1e-5 + 1e-4 |b| (a misplaced tap is off by ~0.1). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  expect(actual.length).toBe(expected.length);
  let bad = 0;
  for (let i = 0; i < expected.length; i++) if (!(Math.abs(actual[i]! - expected[i]!) <= 1e-5 + 1e-4 * Math.abs(expected[i]!))) bad++;
  expect(bad).toBe(0);
}

const cases: Case[] = [
  { n: 3, c: 4, h: 10, w: 11, o: 6, k: 3, stride: 1, padding: 1, dilation: 1, groups: 2 },
  { n: 2, c: 3, h: 17, w: 15, o: 8, k: 3, stride: 2, padding: 2, dilation: 2, groups: 1 },
  { n: 2, c: 6, h: 12, w: 12, o: 15, k: 5, stride: 1, padding: 0, dilation: 1, groups: 3 },
];

describe('conv2d on gathered and scattered columns', () => {
  for (const c of cases) {
    it(`[${c.n}, ${c.c}, ${c.h}, ${c.w}] -> ${c.o} channels, ${c.k}x${c.k}, stride ${c.stride}, padding ${c.padding}, dilation ${c.dilation}, groups ${c.groups}`, () => {
      const cg = c.c / c.groups;
      const x: FloatTensor = { shape: [c.n, c.c, c.h, c.w], dtype: 'float32', data: values(c.n * c.c * c.h * c.w, 1) };
      const w: FloatTensor = { shape: [c.o, cg, c.k, c.k], dtype: 'float32', data: values(c.o * cg * c.k * c.k, 2) };
      const b: FloatTensor = { shape: [c.o], dtype: 'float32', data: values(c.o, 3) };
      const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
      const y = conv2d(x, w, b, opts);
      const gO = values(y.data.length, 4);
      const ref = reference(c, x.data as Float32Array, w.data as Float32Array, gO);
      // Every product of this case goes through the tables.
      const map = { imageH: c.h, imageW: c.w, posH: ref.shape[2]!, posW: ref.shape[3]!, kH: c.k, kW: c.k, sH: c.stride, sW: c.stride, pT: c.padding, pL: c.padding, dH: c.dilation, dW: c.dilation };
      expect(forwardColumns(map, cg, c.o / c.groups)).not.toBeNull();
      expect(weightColumns(map, cg, c.o / c.groups)).not.toBeNull();
      expect(inputColumns(map, cg, c.o / c.groups)).not.toBeNull();

      expect(y.shape).toEqual(ref.shape);
      const withBias = Float64Array.from(ref.y, (v, i) => v + b.data[Math.floor(i / (ref.shape[2]! * ref.shape[3]!)) % c.o]!);
      expectClose(y.data, withBias);
      const grads = conv2dBackward({ shape: y.shape, dtype: 'float32', data: gO }, x, w, true, opts);
      expectClose(grads.grad_input.data, ref.gx);
      expectClose(grads.grad_weight.data, ref.gw);
      expectClose(grads.grad_bias!.data, ref.gb);
    });
  }
});
