import { mkdtemp, readdir, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeIdx, IdxFormatError, IMAGES_MAGIC, LABELS_MAGIC } from '../../src/datasets/idx.js';
import { DatasetStore, DatasetTooLargeError } from '../../src/datasets/store.js';

let root: string;
const limits = { maxUploadBytes: 4096, maxDecompressedBytes: 8192 };
const images = encodeIdx(IMAGES_MAGIC, [3, 2, 2], Uint8Array.from({ length: 12 }, (_, i) => i));
const labels = encodeIdx(LABELS_MAGIC, [3], new Uint8Array([2, 0, 2]));

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'convpool-datasets-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('dataset store', () => {
  it('publishes a validated upload and reloads it after a restart', async () => {
    const store = new DatasetStore(root, limits);
    await store.load();
    const upload = await store.beginUpload();
    await upload.receive('images', Readable.from([Buffer.from(gzipSync(images))]), 'train-images-idx3-ubyte.gz');
    await upload.receive('labels', Readable.from([Buffer.from(labels)]));
    const record = await upload.commit('tiny');
    expect(record).toMatchObject({
      name: 'tiny',
      count: 3,
      example_shape: [1, 2, 2],
      num_classes: 3,
      label_counts: [1, 0, 2],
      files: { images: { gzip: true, original_name: 'train-images-idx3-ubyte.gz' }, labels: { gzip: false } },
    });

    const restarted = new DatasetStore(root, limits);
    await restarted.load();
    expect(restarted.list()).toEqual([record]);
    const data = await restarted.read(record.id);
    expect([...data.labels.labels]).toEqual([2, 0, 2]);
    expect([...data.images.pixels]).toEqual([...images.subarray(16)]);

    expect(await restarted.delete(record.id)).toBe(true);
    expect(restarted.get(record.id)).toBeUndefined();
    expect(await readdir(root)).toEqual([]);
  });

  it('rejects mismatched files and an oversized upload, keeping nothing', async () => {
    const store = new DatasetStore(root, limits);
    await store.load();
    const mismatched = await store.beginUpload();
    await mismatched.receive('images', Readable.from([Buffer.from(images)]));
    await mismatched.receive('labels', Readable.from([Buffer.from(encodeIdx(LABELS_MAGIC, [2], new Uint8Array(2)))]));
    await expect(mismatched.commit('x')).rejects.toThrow(IdxFormatError);
    await mismatched.abort();

    const huge = await store.beginUpload();
    await expect(huge.receive('images', Readable.from([Buffer.alloc(5000)]))).rejects.toThrow(DatasetTooLargeError);
    await huge.abort();

    const incomplete = await store.beginUpload();
    await incomplete.receive('labels', Readable.from([Buffer.from(labels)]));
    await expect(incomplete.commit('x')).rejects.toThrow('missing file part: images');
    await incomplete.abort();
    expect(await readdir(root)).toEqual([]);
  });

  it('removes staging directories left by a crash', async () => {
    await mkdir(join(root, 'ds_0123456789abcdef.partial'));
    const store = new DatasetStore(root, limits);
    await store.load();
    expect(await readdir(root)).toEqual([]);
  });
});
