/**
 * The columns through tables: a conv's products with im2col's columns gathered straight into
 * gemm's packed blocks, and the input gradient's columns added straight onto the image, must give
 * what the written-out columns give (im2col, gemm, col2im), bit for bit, for every geometry
 * (stride, padding, dilation, several channels, images at an offset in the batch).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gemm } from '../../../src/kernels/gemm.js';
import { gemmGathered, gemmScattered } from '../../../src/kernels/gemm_tables.js';
import { col2im, im2col, type WindowMap } from '../../../src/kernels/layers/conv_core.js';
import { forwardColumns, inputColumns, weightColumns } from '../../../src/kernels/layers/gathered_columns.js';

/** Finite values whose sums round, plus the odd -0, so the order of the adds and zero signs show. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % 97 === 0 ? -0 : Math.fround(((s >>> 8) / 2 ** 24 - 0.5) * 2 ** ((s >>> 4) % 9 - 4));
  }
  return out;
}

const bits = (a: Float32Array) => Array.from(new Int32Array(a.buffer, a.byteOffset, a.length));

const sizeOut = (image: number, pad: number, dil: number, k: number, stride: number) => Math.floor((image + 2 * pad - dil * (k - 1) - 1) / stride) + 1;

interface Geometry {
  map: WindowMap;
  channels: number;
  outChannels: number;
  images: number;
}

const geometries = fc
  .record({
    channels: fc.integer({ min: 1, max: 4 }),
    outChannels: fc.integer({ min: 1, max: 9 }),
    images: fc.integer({ min: 1, max: 3 }),
    imageH: fc.integer({ min: 1, max: 24 }),
    imageW: fc.integer({ min: 1, max: 24 }),
    kH: fc.integer({ min: 1, max: 5 }),
    kW: fc.integer({ min: 1, max: 5 }),
    sH: fc.integer({ min: 1, max: 3 }),
    sW: fc.integer({ min: 1, max: 3 }),
    dH: fc.integer({ min: 1, max: 2 }),
    dW: fc.integer({ min: 1, max: 2 }),
    pT: fc.integer({ min: 0, max: 2 }),
    pL: fc.integer({ min: 0, max: 2 }),
  })
  .map((r): Geometry | null => {
    const posH = sizeOut(r.imageH, r.pT, r.dH, r.kH, r.sH);
    const posW = sizeOut(r.imageW, r.pL, r.dW, r.kW, r.sW);
    if (posH < 1 || posW < 1) return null;
    const { channels, outChannels, images, ...m } = r;
    return { map: { ...m, posH, posW }, channels, outChannels, images };
  })
  .filter((g): g is Geometry => g !== null && forwardColumns(g.map, g.channels, g.outChannels) !== null);

/** Checks both products of one geometry, for each image of a small batch. */
function checkGeometry({ map, channels, outChannels, images }: Geometry, seed: number): void {
  const kdim = channels * map.kH * map.kW;
  const positions = map.posH * map.posW;
  const imageSize = channels * map.imageH * map.imageW;
  const x = values(images * imageSize, seed);
  const w = values(outChannels * kdim, seed + 1);
  const gO = values(images * outChannels * positions, seed + 2);
  const cols = new Float32Array(kdim * positions);
  const forward = forwardColumns(map, channels, outChannels)!;
  const weight = weightColumns(map, channels, outChannels);
  for (let n = 0; n < images; n++) {
    im2col(x, n * imageSize, channels, map, cols);
    // Forward: W · cols onto a C that already holds values (beta 1, as with a bias).
    const start = values(outChannels * positions, seed + 3 + n);
    const expected = Float32Array.from(start);
    gemm(false, false, outChannels, positions, kdim, 1, w, 0, kdim, cols, 0, positions, 1, expected, 0, positions);
    const actual = Float32Array.from(start);
    gemmGathered(false, outChannels, w, 0, kdim, forward, x, n * imageSize, 1, actual, 0, positions);
    expect(bits(actual)).toEqual(bits(expected));

    const input = inputColumns(map, channels, outChannels);
    if (input) {
      // Input gradient: col2im(Wᵀ · gO) added onto a gradient that already holds values.
      const gradCols = new Float32Array(kdim * positions);
      gemm(true, false, kdim, positions, outChannels, 1, w, 0, kdim, gO, n * outChannels * positions, positions, 0, gradCols, 0, positions);
      const before = values(images * imageSize, seed + 5);
      const inputExpected = Float32Array.from(before);
      col2im(gradCols, channels, map, inputExpected, n * imageSize);
      const inputActual = Float32Array.from(before);
      gemmScattered(true, false, outChannels, w, 0, kdim, gO, n * outChannels * positions, positions, input, inputActual, n * imageSize);
      expect(bits(inputActual)).toEqual(bits(inputExpected));
    }

    if (!weight) continue;
    // Weight gradient: gO · colsᵀ accumulated over the images.
    const gradExpected = values(outChannels * kdim, seed + 4);
    const gradActual = Float32Array.from(gradExpected);
    gemm(false, true, outChannels, kdim, positions, 1, gO, n * outChannels * positions, positions, cols, 0, positions, 1, gradExpected, 0, kdim);
    gemmGathered(false, outChannels, gO, n * outChannels * positions, positions, weight, x, n * imageSize, 1, gradActual, 0, kdim);
    expect(bits(gradActual)).toEqual(bits(gradExpected));
  }
}

describe('gathered im2col columns', () => {
  it('give the products of the written-out columns, bit for bit', () => {
    fc.assert(
      fc.property(geometries, fc.nat(10_000), (g, seed) => checkGeometry(g, seed)),
      { numRuns: 150 },
    );
  });

  it('a large geometry (the module memory grows for its table), then a small one again', () => {
    const big: Geometry = {
      map: { imageH: 40, imageW: 40, posH: 40, posW: 40, kH: 3, kW: 3, sH: 1, sW: 1, pT: 1, pL: 1, dH: 1, dW: 1 },
      channels: 16,
      outChannels: 8,
      images: 2,
    };
    const small: Geometry = {
      map: { imageH: 12, imageW: 12, posH: 8, posW: 8, kH: 5, kW: 5, sH: 1, sW: 1, pT: 0, pL: 0, dH: 1, dW: 1 },
      channels: 6,
      outChannels: 16,
      images: 2,
    };
    checkGeometry(big, 7);
    checkGeometry(small, 8);
    checkGeometry(big, 9);
  });

  it('are not planned for products the plain triple loop takes', () => {
    const tiny: WindowMap = { imageH: 4, imageW: 4, posH: 2, posW: 2, kH: 3, kW: 3, sH: 1, sW: 1, pT: 0, pL: 0, dH: 1, dW: 1 };
    expect(forwardColumns(tiny, 1, 2)).toBeNull();
    expect(inputColumns(tiny, 1, 2)).toBeNull();
  });

  it('are not planned when the image is too large for the module to hold, however few the taps', () => {
    // 1x1 windows 8 apart over a 4096 x 4096 image: 262,144 taps, but 16.8 million floats of source.
    const strided: WindowMap = { imageH: 4096, imageW: 4096, posH: 512, posW: 512, kH: 1, kW: 1, sH: 8, sW: 8, pT: 0, pL: 0, dH: 1, dW: 1 };
    expect(forwardColumns(strided, 1, 64)).toBeNull();
    expect(weightColumns(strided, 1, 64)).toBeNull();
    expect(inputColumns(strided, 1, 64)).toBeNull();
    const smaller: WindowMap = { ...strided, imageH: 2048, imageW: 2048, posH: 256, posW: 256 };
    expect(forwardColumns(smaller, 1, 64)).not.toBeNull();
  });

  it('the input gradient keeps col2im when gemm would split the product in depth (over 256 output channels)', () => {
    const map: WindowMap = { imageH: 6, imageW: 6, posH: 4, posW: 4, kH: 3, kW: 3, sH: 1, sW: 1, pT: 0, pL: 0, dH: 1, dW: 1 };
    expect(inputColumns(map, 2, 256)).not.toBeNull();
    expect(inputColumns(map, 2, 257)).toBeNull();
  });
});
