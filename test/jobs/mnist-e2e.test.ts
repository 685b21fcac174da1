/**
 * The whole story over HTTP, on the built-in MNIST digits: a job is cancelled while it trains,
 * another trains a small CNN to >= 95% test accuracy while its events stream, the server restarts
 * in the middle of it and the job resumes, the model is registered, its safetensors downloaded,
 * imported again under a new name, and used to predict the test digits.
 *
 * The model and schedule are chosen to stay quick on two cores: conv(1->8, 5x5) - relu - maxpool 2
 * - conv(8->16, 5x5) - relu - maxpool 2 - flatten - linear(256->10), 2 epochs over the 8,000
 * training digits, Adam lr 0.003, batch 32: about 97% test accuracy (95% after 1 epoch is not
 * reliably reached), some 40 s of training on one core.
 */
import { FormData, fetch, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { loadMnist } from '../../src/nn/datasets.js';
import { decodeSafetensors } from '../../src/storage/safetensors.js';
import type { Json } from '../service/helpers.js';
import { appWithData, submitJob, tempDataDir, waitForJob } from './helpers.js';

const architecture = {
  input_shape: [1, 28, 28],
  layers: [
    { op: 'conv2d', name: 'conv1', in_channels: 1, out_channels: 8, kernel_size: 5 },
    { op: 'relu' },
    { op: 'max_pool2d', kernel_size: 2 },
    { op: 'conv2d', name: 'conv2', in_channels: 8, out_channels: 16, kernel_size: 5 },
    { op: 'relu' },
    { op: 'max_pool2d', kernel_size: 2 },
    { op: 'flatten' },
    { op: 'linear', name: 'fc', in_features: 256, out_features: 10 },
  ],
};

interface SseEvent {
  event: string;
  data: Json;
}

/** Reads an event stream until it ends (the job finished, or the server closed it). */
async function collectEvents(url: string, into: SseEvent[]): Promise<void> {
  const res = await request(url);
  expect(res.statusCode).toBe(200);
  let buffered = '';
  try {
    for await (const chunk of res.body) {
      buffered += chunk.toString();
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (!block.startsWith('event: ')) continue; // keep-alive comments
        const [eventLine, dataLine] = block.split('\n');
        into.push({ event: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) });
      }
    }
  } catch {
    // The server went away mid-stream (the restart): what arrived until then is kept.
  }
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}

let data: Awaited<ReturnType<typeof tempDataDir>>;
let app: FastifyInstance | undefined;
beforeAll(async () => {
  data = await tempDataDir();
});
afterAll(async () => {
  await app?.close();
  await data.remove();
});

describe('MNIST through the HTTP API', () => {
  it('trains, streams, cancels, survives a restart, registers, exports, re-imports and predicts', { timeout: 600_000 }, async () => {
    app = await appWithData(data.dir);
    let base = await listen(app);

    // A job that is cancelled while it trains; the main job waits queued meanwhile.
    const doomed = await submitJob(app, { model: architecture, dataset: { builtin: 'mnist' }, optimizer: { name: 'sgd', lr: 0.01 }, epochs: 1 });
    const main = await submitJob(app, {
      model: { ...architecture, seed: 1 },
      dataset: { builtin: 'mnist' },
      optimizer: { name: 'adam', lr: 0.003 },
      epochs: 2,
      batch_size: 32,
      seed: 1,
      register_as: 'mnist-cnn',
    });
    expect([doomed.state, main.state]).toEqual(['running', 'queued']);
    await waitForJob(app, doomed.id, (j) => j.progress?.global_step >= 3);
    expect((await app.inject({ method: 'POST', url: `/v1/training-jobs/${doomed.id}/cancel` })).statusCode).toBe(202);
    const cancelled = await waitForJob(app, doomed.id);
    expect(cancelled.transitions.map((t: Json) => t.state)).toEqual(['queued', 'running', 'cancelling', 'cancelled']);
    expect(cancelled.checkpoint.global_step).toBeGreaterThanOrEqual(3);

    // Watch the main job, then restart the server in the middle of its first epoch.
    const before: SseEvent[] = [];
    const watching = collectEvents(`${base}/v1/training-jobs/${main.id}/events`, before);
    await waitForJob(app, main.id, (j) => j.progress?.global_step >= 60);
    await app.close();
    await watching;
    expect(before[0]!.event).toBe('state');
    const progress = before.filter((e) => e.event === 'progress').map((e) => e.data);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toMatchObject({ epoch: 1, epochs: 2, steps_per_epoch: 250, total_steps: 500 });
    expect(progress.at(-1)!.images_per_second).toBeGreaterThan(0);
    expect(progress.at(-1)!.eta_seconds).toBeGreaterThan(0);

    app = await appWithData(data.dir);
    base = await listen(app);
    const after: SseEvent[] = [];
    await collectEvents(`${base}/v1/training-jobs/${main.id}/events`, after);
    // A client arriving late first gets the job as it is now: resumed from its checkpoint.
    expect(after[0]!.event).toBe('state');
    expect(after[0]!.data.transitions.map((t: Json) => t.state)).toEqual(['queued', 'running', 'queued', 'running']);
    expect(after[0]!.data.checkpoint.global_step).toBeGreaterThanOrEqual(60);
    expect(after.filter((e) => e.event === 'epoch').map((e) => e.data.epoch)).toEqual([1, 2]);
    expect(after.at(-1)).toMatchObject({ event: 'state', data: { state: 'succeeded' } });

    const done = await waitForJob(app, main.id);
    expect(done.metrics).toHaveLength(2);
    const accuracy = done.metrics.at(-1).test_accuracy;
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
    expect(done.model).toEqual({ name: 'mnist-cnn', version: 1 });
    const svg = await app.inject({ method: 'GET', url: `/v1/training-jobs/${main.id}/metrics.svg` });
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);

    // The registered model, its weights as safetensors, and the same weights imported again.
    const version = (await app.inject({ method: 'GET', url: '/v1/models/mnist-cnn/versions/1' })).json();
    expect(version.provenance).toMatchObject({ source: 'training', job_id: main.id, dataset: { builtin: 'mnist', train_size: 8000, test_size: 2000 } });
    const weights = await app.inject({ method: 'GET', url: '/v1/models/mnist-cnn/versions/1/weights' });
    const { tensors } = decodeSafetensors(weights.rawPayload);
    expect([...tensors].map(([name, t]) => [name, t.shape])).toEqual([
      ['conv1.weight', [8, 1, 5, 5]],
      ['conv1.bias', [8]],
      ['conv2.weight', [16, 8, 5, 5]],
      ['conv2.bias', [16]],
      ['fc.weight', [10, 256]],
      ['fc.bias', [10]],
    ]);
    const form = new FormData();
    form.append('name', 'mnist-cnn-imported');
    form.append('architecture', JSON.stringify(architecture));
    form.append('weights', new Blob([new Uint8Array(weights.rawPayload)]), 'mnist-cnn.safetensors');
    const imported = await fetch(`${base}/v1/models`, { method: 'POST', body: form });
    expect(imported.status).toBe(201);
    expect(((await imported.json()) as Json).weights.sha256).toBe(version.weights.sha256);

    // Predict the 2,000 test digits with the imported model, 500 at a time (base64 keeps bodies small).
    const { test } = loadMnist();
    const predictions: number[] = [];
    for (let start = 0; start < 2000; start += 500) {
      const images = test.images.data.subarray(start * 784, (start + 500) * 784);
      const input = { shape: [500, 1, 28, 28], dtype: 'float32', data: Buffer.from(images.buffer, images.byteOffset, images.byteLength).toString('base64') };
      const predicted = await app.inject({ method: 'POST', url: '/v1/models/mnist-cnn-imported/predict', payload: { input, encoding: 'base64' } });
      expect(predicted.statusCode, predicted.body.slice(0, 300)).toBe(200);
      const reply = predicted.json();
      expect(reply.probabilities.shape).toEqual([500, 10]);
      predictions.push(...reply.predictions);
    }
    const correct = predictions.filter((p, i) => p === test.labels.data[i]).length / predictions.length;
    expect(correct).toBeGreaterThanOrEqual(0.95);
    expect(Math.abs(correct - accuracy)).toBeLessThanOrEqual(0.002);
  });
});
