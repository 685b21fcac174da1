/**
 * Uploading IDX datasets through a listening server (multipart/form-data, as curl -F sends it),
 * training on one, and the uploads that must be refused: corrupt, mismatched, truncated,
 * oversized, gzip bombs, wrong parts.
 */
import { gzipSync } from 'node:zlib';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FormData, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { encodeIdx, IMAGES_MAGIC, LABELS_MAGIC } from '../../src/datasets/idx.js';
import type { Json } from '../service/helpers.js';
import { appWithData, submitJob, tempDataDir, waitForJob } from '../jobs/helpers.js';

const UPLOAD_LIMIT = 64 * 1024;

/** Images whose class is the row holding the bright stripe: learnable in a few steps. */
function stripes(count: number, classes = 3) {
  const pixels = new Uint8Array(count * 6 * 6);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % classes;
    for (let c = 0; c < 6; c++) pixels[i * 36 + (labels[i]! * 2) * 6 + c] = 255;
  }
  return { images: encodeIdx(IMAGES_MAGIC, [count, 6, 6], pixels), labels: encodeIdx(LABELS_MAGIC, [count], labels) };
}

let app: FastifyInstance;
let base: string;
let data: Awaited<ReturnType<typeof tempDataDir>>;
beforeAll(async () => {
  data = await tempDataDir();
  app = await appWithData(data.dir, { uploadLimitBytes: UPLOAD_LIMIT });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await app.close();
  await data.remove();
});

function form(parts: Record<string, Uint8Array | string>) {
  const body = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    if (typeof value === 'string') body.append(name, value);
    else body.append(name, new Blob([new Uint8Array(value)]), `${name}.idx`);
  }
  return body;
}

async function upload(parts: Record<string, Uint8Array | string>) {
  const res = await fetch(`${base}/v1/datasets`, { method: 'POST', body: form(parts) });
  return { status: res.status, body: (await res.json()) as Json, location: res.headers.get('location') };
}

describe('datasets over HTTP', () => {
  it('uploads raw and gzip IDX, lists, trains on it, refuses deletion while in use, then deletes', async () => {
    const { images, labels } = stripes(60);
    const created = await upload({ name: 'stripes', images: gzipSync(images), labels });
    expect(created.status).toBe(201);
    expect(created.location).toBe(`/v1/datasets/${created.body.id}`);
    expect(created.body).toMatchObject({ name: 'stripes', count: 60, example_shape: [1, 6, 6], num_classes: 3, label_counts: [20, 20, 20] });
    expect(created.body.files.images).toMatchObject({ gzip: true, original_name: 'images.idx' });

    const list = (await app.inject({ method: 'GET', url: '/v1/datasets' })).json();
    expect(list.datasets.map((d: Json) => d.id)).toEqual([created.body.id]);
    expect((await app.inject({ method: 'GET', url: `/v1/datasets/${created.body.id}` })).json()).toEqual(created.body);

    const job = await submitJob(app, {
      model: { layers: [{ op: 'flatten' }, { op: 'linear', name: 'fc', in_features: 36, out_features: 3 }], input_shape: [1, 6, 6] },
      dataset: { id: created.body.id, test_fraction: 0.25 },
      optimizer: { name: 'sgd', lr: 0.5 },
      epochs: 3,
      batch_size: 5,
      register_as: 'stripes',
    });
    expect(job.spec.dataset).toEqual({ id: created.body.id, test_id: null, test_fraction: 0.25 });
    const busy = await app.inject({ method: 'DELETE', url: `/v1/datasets/${created.body.id}` });
    if (busy.statusCode === 409) expect(busy.json().code).toBe('CONFLICT');
    const done = await waitForJob(app, job.id);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.progress.steps_per_epoch).toBe(9); // 45 training examples, 15 held out
    expect(done.metrics.at(-1).test_accuracy).toBe(1);

    const wrongShape = await app.inject({
      method: 'POST',
      url: '/v1/training-jobs',
      payload: { model: { layers: [{ op: 'flatten' }, { op: 'linear', name: 'fc', in_features: 784, out_features: 10 }], input_shape: [1, 28, 28] }, dataset: { id: created.body.id }, optimizer: { name: 'sgd', lr: 0.1 } },
    });
    expect(wrongShape.statusCode).toBe(400);
    expect(wrongShape.json().message).toMatch(/examples of shape \[1, 6, 6\], but the model's input_shape is \[1, 28, 28\]/);

    const deleted = await app.inject({ method: 'DELETE', url: `/v1/datasets/${created.body.id}` });
    expect(deleted.statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: `/v1/datasets/${created.body.id}` })).statusCode).toBe(404);
  });

  const { images, labels } = stripes(4);
  const bad: Array<[string, Record<string, Uint8Array | string>, number, string, RegExp]> = [
    ['labels in place of images', { images: labels, labels }, 400, 'INVALID_DATASET', /images: expected IDX magic 0x00000803/],
    ['a truncated file', { images: images.subarray(0, images.length - 3), labels }, 400, 'INVALID_DATASET', /need 160 bytes but the file has 157/],
    ['counts that differ', { images, labels: encodeIdx(LABELS_MAGIC, [3], new Uint8Array(3)) }, 400, 'INVALID_DATASET', /4 images but 3 labels/],
    ['corrupt gzip', { images: gzipSync(images).subarray(0, 20), labels }, 400, 'INVALID_DATASET', /not a valid gzip stream/],
    ['a gzip bomb', { images: gzipSync(new Uint8Array(20 * UPLOAD_LIMIT)), labels }, 400, 'INVALID_DATASET', /decompressed size exceeds/],
    ['a file over the limit', { images: new Uint8Array(UPLOAD_LIMIT + 10), labels }, 413, 'UPLOAD_TOO_LARGE', /images upload exceeds the 65536-byte limit/],
    ['a missing part', { images }, 400, 'INVALID_DATASET', /missing file part: labels/],
    ['an unexpected file', { extra: labels, images }, 400, 'BAD_REQUEST', /unexpected file 'extra'/],
    ['a third file', { images, labels, more: labels }, 400, 'BAD_REQUEST', /too many parts .*reach files limit/],
    ['an unexpected field', { color: 'red', images, labels }, 400, 'BAD_REQUEST', /unexpected field 'color'/],
  ];
  it.each(bad)('refuses %s and keeps nothing', async (_what, parts, status, code, message) => {
    const res = await upload(parts);
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body).toMatchObject({ statusCode: status, code });
    expect(res.body.message).toMatch(message);
    expect(await readdir(join(data.dir, 'datasets'))).toEqual([]);
  });

  it('refuses a JSON body with 415', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/datasets', payload: { images: 'x' } });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('MULTIPART_REQUIRED');
  });
});
