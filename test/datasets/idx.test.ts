import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checkPair, encodeIdx, IdxFormatError, IMAGES_MAGIC, LABELS_MAGIC, parseImages, parseLabels } from '../../src/datasets/idx.js';

const pixels = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 10);
const imagesBytes = encodeIdx(IMAGES_MAGIC, [2, 3, 4], pixels);
const labelsBytes = encodeIdx(LABELS_MAGIC, [2], new Uint8Array([7, 1]));

describe('IDX', () => {
  it('writes the big-endian header of the published MNIST files', () => {
    expect([...imagesBytes.subarray(0, 16)]).toEqual([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    expect([...labelsBytes.subarray(0, 8)]).toEqual([0, 0, 8, 1, 0, 0, 0, 2]);
  });

  it.each([
    ['raw', (b: Uint8Array) => b],
    ['gzip', (b: Uint8Array) => new Uint8Array(gzipSync(b))],
  ])('reads %s images and labels', (_kind, wrap) => {
    const images = parseImages(wrap(imagesBytes));
    expect([images.count, images.rows, images.cols]).toEqual([2, 3, 4]);
    expect([...images.pixels]).toEqual([...pixels]);
    const labels = parseLabels(wrap(labelsBytes));
    expect([...labels.labels]).toEqual([7, 1]);
    expect(() => checkPair(images, labels)).not.toThrow();
  });

  const bad: [string, () => unknown, RegExp][] = [
    ['labels given as images', () => parseImages(labelsBytes), /expected IDX magic 0x00000803 .* got 0x00000801/],
    ['float images', () => parseImages(encodeIdx(0x00000d03, [1, 1, 1], new Uint8Array(4))), /got 0x00000d03/],
    ['a truncated file', () => parseImages(imagesBytes.subarray(0, imagesBytes.length - 1)), /need 40 bytes but the file has 39/],
    ['trailing bytes', () => parseLabels(new Uint8Array([...labelsBytes, 0])), /need 10 bytes but the file has 11/],
    ['a header cut short', () => parseImages(imagesBytes.subarray(0, 9)), /too short/],
    ['empty images', () => parseImages(encodeIdx(IMAGES_MAGIC, [0, 28, 28], new Uint8Array(0))), /empty dimensions/],
    ['corrupt gzip', () => parseLabels(new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3])), /not a valid gzip stream/],
    ['a gzip bomb', () => parseImages(gzipSync(new Uint8Array(1 << 20)), 1000), /decompressed size exceeds the 1000-byte limit/],
    [
      'mismatched counts',
      () => checkPair(parseImages(imagesBytes), parseLabels(encodeIdx(LABELS_MAGIC, [3], new Uint8Array(3)))),
      /2 images but 3 labels/,
    ],
  ];
  it.each(bad)('rejects %s', (_what, parse, message) => {
    expect(parse).toThrow(IdxFormatError);
    expect(parse).toThrow(message);
  });
});
