import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/nn/rng.js';
import { biasBound, fillUniform, kaimingUniformBound } from '../../src/nn/init.js';
import { pyFloat } from '../../src/nn/errors.js';

describe('Rng (xoshiro128**)', () => {
  it('matches the reference generator from state {1, 2, 3, 4}', () => {
    const rng = Rng.fromState([1, 2, 3, 4]);
    const first = Array.from({ length: 6 }, () => rng.nextUint32());
    expect(first).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('is reproducible from a seed, and different seeds differ', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(xs);
  });

  it('continues identically after saving and restoring its state', () => {
    const a = new Rng(7);
    a.permutation(100);
    const b = Rng.fromState(a.getState());
    expect(b.permutation(50)).toEqual(a.permutation(50));
  });

  it('gives float32 values in [0, 1) and unbiased-looking integers', () => {
    const rng = new Rng(1);
    const counts = new Array<number>(5).fill(0);
    for (let i = 0; i < 5000; i++) {
      const u = rng.nextFloat32();
      expect(u >= 0 && u < 1 && Math.fround(u) === u).toBe(true);
      counts[rng.nextInt(5)]!++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(850);
  });

  it('permutation holds every index exactly once', () => {
    const order = new Rng(3).permutation(1000);
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('rejects an all-zero state', () => {
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(RangeError);
  });
});

describe('default initialisation', () => {
  it('kaiming_uniform(a=sqrt(5)) and the bias both have half-width 1/sqrt(fan_in)', () => {
    for (const fanIn of [1, 27, 256, 1000]) {
      expect(kaimingUniformBound(fanIn)).toBeCloseTo(1 / Math.sqrt(fanIn), 14);
      expect(biasBound(fanIn)).toBe(1 / Math.sqrt(fanIn));
    }
  });

  it('fills within the bound and covers it', () => {
    const data = new Float32Array(10000);
    fillUniform(data, 0.25, new Rng(5));
    let min = Infinity;
    let max = -Infinity;
    for (const v of data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(-0.25);
    expect(max).toBeLessThanOrEqual(0.25);
    expect(min).toBeLessThan(-0.24);
    expect(max).toBeGreaterThan(0.24);
  });
});

describe('pyFloat formats numbers as Python prints floats', () => {
  const cases: Array<[number, string]> = [
    [0.1, '0.1'], [-1, '-1.0'], [1e-8, '1e-08'], [0.0001, '0.0001'], [0.00001, '1e-05'],
    [1.5, '1.5'], [123456.75, '123456.75'], [1e16, '1e+16'], [2.5e-7, '2.5e-07'], [0, '0.0'],
  ];
  for (const [x, text] of cases) it(`${x} -> ${text}`, () => expect(pyFloat(x)).toBe(text));
});
