/**
 * The float32 max pooling backward in WebAssembly against a plain scatter in float32: the same
 * adds in the same order give the same bits, over several blocks of planes, indices that repeat
 * (overlapping windows), indices outside the plane (dropped) and values that round at every add,
 * signed zeros, infinities and NaN.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxPoolBackwardFloat32 } from '../../../src/kernels/pooling/max_pool_backward_wasm.js';

function plainScatter(gradOutput: Float32Array, indices: Int32Array, planeSize: number, planes: number): Float32Array {
  const out = new Float32Array(planes * planeSize);
  const outPlane = gradOutput.length / planes;
  for (let o = 0; o < gradOutput.length; o++) {
    const index = indices[o]!;
    if (index < 0 || index >= planeSize) continue;
    const at = Math.floor(o / outPlane) * planeSize + index;
    out[at] = Math.fround(out[at]! + gradOutput[o]!);
  }
  return out;
}

/** Bit patterns, every NaN as one: a NaN's sign and payload from inf + -inf are the hardware's, not the arithmetic's. */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b, i) => (Number.isNaN(a[i]) ? 'NaN' : b));

const value = fc.oneof(
  { weight: 6, arbitrary: fc.float({ min: Math.fround(-1e6), max: Math.fround(1e6), noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(-0, 0, Number.NaN, Infinity, -Infinity, 1e-7) },
);

describe('maxPoolBackwardFloat32', () => {
  it('agrees with a float32 scatter bit for bit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 1200 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (planes, planeSize, outPlane, seed) => {
          const n = planes * outPlane;
          const values = fc.sample(value, { numRuns: Math.min(n, 500), seed });
          const gradOutput = new Float32Array(n);
          const indices = new Int32Array(n);
          let state = seed;
          for (let o = 0; o < n; o++) {
            state = (Math.imul(state, 1103515245) + 12345) >>> 0;
            gradOutput[o] = values[o % values.length]!;
            // Mostly a few popular cells (many adds onto one), now and then outside the plane.
            const r = state % 100;
            indices[o] = r < 3 ? -1 - r : r < 6 ? planeSize + r - 3 : (state >>> 8) % (state % 7 === 0 ? planeSize : Math.min(planeSize, 5));
          }
          const gradInput = new Float32Array(planes * planeSize).fill(42);
          expect(maxPoolBackwardFloat32(gradOutput, indices, planeSize, gradInput)).toBe(true);
          expect(bits(gradInput)).toEqual(bits(plainScatter(gradOutput, indices, planeSize, planes)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('reads and writes views that start inside their buffers', () => {
    const planes = 9;
    const planeSize = 4099;
    const outPlane = 1031;
    const source = new Float32Array(planes * outPlane + 3);
    const where = new Int32Array(planes * outPlane + 5);
    for (let i = 0; i < source.length; i++) source[i] = (i % 17) - 8.25;
    for (let i = 0; i < where.length; i++) where[i] = (i * 7919) % planeSize;
    const gradOutput = source.subarray(3);
    const indices = where.subarray(5);
    const target = new Float32Array(planes * planeSize + 1);
    const gradInput = target.subarray(1);
    expect(maxPoolBackwardFloat32(gradOutput, indices, planeSize, gradInput)).toBe(true);
    expect(target[0]).toBe(0);
    expect(bits(gradInput)).toEqual(bits(plainScatter(gradOutput, indices, planeSize, planes)));
  });

  it('leaves planes of no outputs at +0 and takes no planes at all', () => {
    const gradInput = new Float32Array(6).fill(3);
    expect(maxPoolBackwardFloat32(new Float32Array(0), new Int32Array(0), 3, gradInput)).toBe(true);
    expect(Array.from(gradInput)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(maxPoolBackwardFloat32(new Float32Array(0), new Int32Array(0), 3, new Float32Array(0))).toBe(true);
  });
});
