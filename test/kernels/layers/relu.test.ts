/**
 * relu against its rule (clamp_min(x, 0); the gradient passes where x <= 0 is false) for every
 * kind of float32 value, bit for bit: -0, NaN of either sign (as NaN), infinities and subnormals.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { relu, reluBackward } from '../../../src/kernels/layers/relu.js';
import type { FloatTensor } from '../../../src/kernels/tensor.js';

const special = [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x00000001, 0x80000001, 0x7f7fffff, 0xff7fffff];
const patterns = fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(...special)), { minLength: 0, maxLength: 300 });

const fromBits = (bits: number[]): FloatTensor => {
  const data = new Float32Array(Uint32Array.from(bits).buffer);
  return { shape: [bits.length], dtype: 'float32', data };
};
const bitsOf = (t: FloatTensor) => Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));
/** NaN stays NaN, whatever its payload (a float32 NaN read into a double and stored back may be quieted). */
const NAN = 'NaN';
const comparable = (t: FloatTensor) => bitsOf(t).map((b, i) => (Number.isNaN(t.data[i]) ? NAN : b));

describe('float32 relu over every kind of value', () => {
  it('forward: x < 0 gives +0; -0 stays -0, NaN stays NaN, the rest pass unchanged', () => {
    fc.assert(
      fc.property(patterns, (bits) => {
        const x = fromBits(bits);
        const expected = Array.from(x.data, (v, i) => (Number.isNaN(v) ? NAN : v < 0 ? 0 : bits[i]!));
        expect(comparable(relu(x))).toEqual(expected);
      }),
    );
  });

  it('backward: the gradient passes where x <= 0 is false (NaN passes), else +0', () => {
    fc.assert(
      fc.property(patterns, (bits) => {
        const x = fromBits(bits);
        const g = fromBits(bits.map((b) => Math.imul(b, 0x9e3779b1) >>> 0));
        const gBits = comparable(g);
        const expected = Array.from(x.data, (v, i) => (v <= 0 ? 0 : gBits[i]!));
        expect(comparable(reluBackward(g, x))).toEqual(expected);
      }),
    );
  });

  it('over several blocks of the SIMD kernel, the last one not a whole vector', () => {
    const n = 2 * 16384 + 4099;
    const bits = Array.from({ length: n }, (_, i) => (i % 11 === 0 ? special[i % special.length]! : Math.imul(i + 1, 0x9e3779b1) >>> 0));
    const x = fromBits(bits);
    const g = fromBits(bits.map((b) => Math.imul(b ^ 0x5bd1e995, 0x27d4eb2d) >>> 0));
    const gBits = comparable(g);
    expect(comparable(relu(x))).toEqual(Array.from(x.data, (v, i) => (Number.isNaN(v) ? NAN : v < 0 ? 0 : bits[i]!)));
    expect(comparable(reluBackward(g, x))).toEqual(Array.from(x.data, (v, i) => (v <= 0 ? 0 : gBits[i]!)));
  });
});
