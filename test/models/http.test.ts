/**
 * The model registry over HTTP: import a model as a PyTorch user would (architecture + safetensors
 * named like the state_dict), download and re-import its weights byte for byte, predict with it on
 * the compute pool, fine-tune it in a training job, delete versions, and refuse weights that do not
 * fit the architecture with load_state_dict's wording.
 */
import { readFileSync } from 'node:fs';
import { FormData, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Tensor } from '../../src/kernels/tensor.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/storage/safetensors.js';
import type { Json } from '../service/helpers.js';
import { appWithData, submitJob, tempDataDir, waitForJob } from '../jobs/helpers.js';

const architecture = {
  input_shape: [1, 2, 2],
  layers: [{ op: 'flatten' }, { op: 'linear', name: 'fc', in_features: 4, out_features: 3 }],
};
const f32 = (shape: number[], data: number[]): Tensor => ({ shape, dtype: 'float32', data: new Float32Array(data) });
/** fc picks pixel 0, 1 or 2: logits are the pixels themselves. */
const weights = encodeSafetensors([
  ['fc.weight', f32([3, 4], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0])],
  ['fc.bias', f32([3], [0, 0, 0])],
]);

let app: FastifyInstance;
let base: string;
let data: Awaited<ReturnType<typeof tempDataDir>>;
beforeAll(async () => {
  data = await tempDataDir();
  app = await appWithData(data.dir);
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await app.close();
  await data.remove();
});

async function importModel(parts: { name?: string; architecture?: unknown; weights?: Uint8Array }) {
  const body = new FormData();
  if (parts.name !== undefined) body.append('name', parts.name);
  if (parts.architecture !== undefined) {
    body.append('architecture', typeof parts.architecture === 'string' ? parts.architecture : JSON.stringify(parts.architecture));
  }
  if (parts.weights) body.append('weights', new Blob([new Uint8Array(parts.weights)]), 'model.safetensors');
  const res = await fetch(`${base}/v1/models`, { method: 'POST', body });
  return { status: res.status, body: (await res.json()) as Json, location: res.headers.get('location') };
}

const predict = (url: string, payload: Json) => app.inject({ method: 'POST', url, payload });

describe('model registry over HTTP', () => {
  it('imports, lists, downloads, re-imports byte for byte, predicts and deletes', async () => {
    const created = await importModel({ name: 'picker', architecture, weights });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.location).toBe('/v1/models/picker/versions/1');
    expect(created.body).toMatchObject({
      name: 'picker',
      version: 1,
      architecture,
      num_parameters: 15,
      provenance: { source: 'import' },
      parameters: [
        { name: 'fc.weight', shape: [3, 4], dtype: 'float32' },
        { name: 'fc.bias', shape: [3], dtype: 'float32' },
      ],
    });

    const download = await app.inject({ method: 'GET', url: '/v1/models/picker/versions/1/weights' });
    expect(download.statusCode).toBe(200);
    expect(download.headers['content-type']).toBe('application/octet-stream');
    expect(download.headers['content-disposition']).toBe('attachment; filename="picker-v1.safetensors"');
    const again = await importModel({ name: 'picker', architecture, weights: download.rawPayload });
    expect(again.body.version).toBe(2);
    expect(again.body.weights.sha256).toBe(created.body.weights.sha256);
    expect(decodeSafetensors(download.rawPayload).metadata).toEqual({ format: 'pt' });

    expect((await app.inject({ method: 'GET', url: '/v1/models' })).json().models).toEqual([
      { name: 'picker', versions: [1, 2], latest: 2, updated_at: again.body.created_at },
    ]);
    const versions = (await app.inject({ method: 'GET', url: '/v1/models/picker' })).json();
    expect(versions.versions.map((v: Json) => v.version)).toEqual([1, 2]);

    const batch = { input: { shape: [2, 1, 2, 2], data: [0.1, 0.9, 0.3, 5, 2, 1, 3, -1] } };
    const res = await predict('/v1/models/picker/predict', batch);
    expect(res.statusCode, res.body).toBe(200);
    const out = res.json();
    expect(out.model).toEqual({ name: 'picker', version: 2 });
    expect(out.logits.shape).toEqual([2, 3]);
    expect(out.logits.data).toEqual([0.1, 0.9, 0.3].map(Math.fround).concat([2, 1, 3]));
    expect(out.predictions).toEqual([1, 2]);
    expect(out.probabilities.shape).toEqual([2, 3]);
    const rowSum = out.probabilities.data.slice(0, 3).reduce((a: number, b: number) => a + b, 0);
    expect(Math.abs(rowSum - 1)).toBeLessThan(1e-6);

    const one = await predict('/v1/models/picker/versions/1/predict', { input: { data: [[[0, 0], [7, 0]]] } });
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json()).toMatchObject({ model: { version: 1 }, predictions: [2] });
    const b64 = await predict('/v1/models/picker/predict', { ...batch, encoding: 'base64' });
    expect(typeof b64.json().logits.data).toBe('string');

    expect((await app.inject({ method: 'DELETE', url: '/v1/models/picker/versions/2' })).statusCode).toBe(204);
    expect((await predict('/v1/models/picker/predict', batch)).json().model.version).toBe(1);
    expect((await app.inject({ method: 'DELETE', url: '/v1/models/picker/versions/2' })).statusCode).toBe(404);
  });

  it('imports a model saved from PyTorch (batch norm included) and predicts its logits', async () => {
    const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
    const reference = JSON.parse(fixture('torch-bn-cnn.json').toString()) as Json;
    const created = await importModel({ name: 'from-torch', architecture: reference.architecture, weights: fixture('torch-bn-cnn.safetensors') });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // num_batches_tracked, a counter only training in PyTorch uses, is left out.
    expect(created.body.parameters.map((p: Json) => p.name)).toEqual(reference.state_dict_keys.filter((k: string) => !k.endsWith('num_batches_tracked')));
    const res = await predict('/v1/models/from-torch/predict', { input: reference.input });
    expect(res.statusCode, res.body).toBe(200);
    const { logits } = res.json();
    expect(logits.shape).toEqual(reference.logits.shape);
    reference.logits.data.forEach((b: number, i: number) => expect(Math.abs(logits.data[i] - b), `logit ${i}`).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(b)));
  });

  it('fine-tunes a registered version in a training job', async () => {
    await importModel({ name: 'base', architecture, weights });
    const job = await submitJob(app, {
      model: { registered: 'base', version: 1 },
      dataset: { inputs: { shape: [3, 1, 2, 2], data: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0] }, targets: [2, 0, 1] },
      optimizer: { name: 'sgd', lr: 0.1 },
      epochs: 1,
      batch_size: 3,
      shuffle: false,
      register_as: 'base',
    });
    expect(job.spec.model.fine_tuned_from).toEqual({ name: 'base', version: 1 });
    const done = await waitForJob(app, job.id);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.model).toEqual({ name: 'base', version: 2 });
    const tuned = (await app.inject({ method: 'GET', url: '/v1/models/base/versions/2' })).json();
    expect(tuned.provenance).toMatchObject({ source: 'training', job_id: job.id, fine_tuned_from: { name: 'base', version: 1 } });
    expect(tuned.weights.sha256).not.toBe((await app.inject({ method: 'GET', url: '/v1/models/base/versions/1' })).json().weights.sha256);
  });

  const bad: Array<[string, Parameters<typeof importModel>[0], number, string, RegExp]> = [
    ['a missing parameter', { name: 'm', architecture, weights: encodeSafetensors([['fc.weight', f32([3, 4], new Array(12).fill(0))]]) }, 400, 'INVALID_WEIGHTS', /Missing key\(s\) in state_dict: "fc.bias"/],
    [
      'an unexpected parameter',
      { name: 'm', architecture, weights: encodeSafetensors([['fc.weight', f32([3, 4], new Array(12).fill(0))], ['fc.bias', f32([3], [0, 0, 0])], ['fc2.bias', f32([1], [0])]]) },
      400,
      'INVALID_WEIGHTS',
      /Unexpected key\(s\) in state_dict: "fc2.bias"/,
    ],
    [
      'a parameter of the wrong shape',
      { name: 'm', architecture, weights: encodeSafetensors([['fc.weight', f32([4, 3], new Array(12).fill(0))], ['fc.bias', f32([3], [0, 0, 0])]]) },
      400,
      'INVALID_WEIGHTS',
      /size mismatch for fc.weight: copying a param with shape \[4, 3\] from checkpoint, the shape in current model is \[3, 4\]/,
    ],
    ['weights that are not safetensors', { name: 'm', architecture, weights: new TextEncoder().encode('PK\u0003\u0004 a zip') }, 400, 'INVALID_WEIGHTS', /weights: header length/],
    ['an architecture that is not JSON', { name: 'm', architecture: '{layers', weights }, 400, 'INVALID_MODEL', /not valid JSON/],
    ['an architecture whose shapes do not chain', { name: 'm', architecture: { ...architecture, input_shape: [1, 3, 3] }, weights }, 400, 'INVALID_MODEL', /mat1 and mat2 shapes cannot be multiplied/],
    ['a bad name', { name: '../x', architecture, weights }, 400, 'VALIDATION_ERROR', /name/],
    ['no weights', { name: 'm', architecture }, 400, 'VALIDATION_ERROR', /weights/],
  ];
  it.each(bad)('refuses %s', async (_what, parts, status, code, message) => {
    const res = await importModel(parts);
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body).toMatchObject({ statusCode: status, code });
    expect(res.body.message).toMatch(message);
  });

  it('predicts on a batch sent as a base64 string of many megabytes', async () => {
    await importModel({ name: 'big-batch', architecture, weights });
    const n = 600_000; // 9.6 MB of float32, 12.8 MB of base64
    const pixels = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) pixels[i * 4 + (i % 3)] = 1;
    const input = { shape: [n, 1, 2, 2], dtype: 'float32', data: Buffer.from(pixels.buffer).toString('base64') };
    const res = await predict('/v1/models/big-batch/predict', { input, encoding: 'base64' });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
    const { predictions } = res.json();
    expect(predictions).toHaveLength(n);
    expect(predictions.every((p: number, i: number) => p === i % 3)).toBe(true);
  });

  it('refuses predictions that do not fit the model', async () => {
    await importModel({ name: 'fit', architecture, weights });
    const cases: Array<[string, Json, number, RegExp]> = [
      ['/v1/models/fit/predict', { input: { shape: [1, 1, 3, 3], data: new Array(9).fill(0) } }, 400, /input must be \[N, 1, 2, 2\] or \[1, 2, 2\]/],
      ['/v1/models/fit/predict', { input: { shape: [2], dtype: 'int64', data: [1, 2] } }, 400, /float32 or float64/],
      ['/v1/models/fit/predict', { input: { shape: [1, 1, 2, 2], data: [1, 2] } }, 400, /data/],
      ['/v1/models/fit/predict', { input: { shape: [1, 1, 2, 2], data: [1, 2, 3, 4] }, extra: 1 }, 400, /extra/],
      ['/v1/models/nope/predict', { input: { shape: [1, 1, 2, 2], data: [1, 2, 3, 4] } }, 404, /no model named 'nope'/],
      ['/v1/models/fit/versions/9/predict', { input: { shape: [1, 1, 2, 2], data: [1, 2, 3, 4] } }, 404, /has no version 9/],
    ];
    for (const [url, body, status, message] of cases) {
      const res = await predict(url, body);
      expect(res.statusCode, `${url} ${JSON.stringify(body)}: ${res.body}`).toBe(status);
      expect(res.json().message).toMatch(message);
    }
  });
});
