/**
 * Training jobs over HTTP with small inline datasets: hostile requests answered 4xx with clear
 * messages, the queue under TRAINING_CONCURRENCY=1, cancellation, the event stream, listing,
 * the SVG curves, and a restart in the middle of a job.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Rng } from '../../src/nn/rng.js';
import type { Json } from '../service/helpers.js';
import { appWithData, submitJob, tempDataDir, waitForJob } from './helpers.js';

const layers = [
  { op: 'conv2d', name: 'conv1', in_channels: 1, out_channels: 4, kernel_size: 3 },
  { op: 'relu' },
  { op: 'max_pool2d', kernel_size: 2 },
  { op: 'flatten' },
  { op: 'linear', name: 'fc', in_features: 36, out_features: 3 },
];

function inline(n: number, seed = 1) {
  const rng = new Rng(seed);
  return {
    inputs: { shape: [n, 1, 8, 8], data: Array.from({ length: n * 64 }, () => rng.nextFloat32()) },
    targets: Array.from({ length: n }, (_, i) => i % 3),
  };
}

/** A job long enough (in batches) to be caught while running. */
const job = (overrides: Json = {}): Json => ({
  model: { layers, input_shape: [1, 8, 8] },
  dataset: { ...inline(400), validation: inline(30, 2) },
  optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
  epochs: 3,
  batch_size: 2,
  seed: 3,
  ...overrides,
});

let app: FastifyInstance;
let data: Awaited<ReturnType<typeof tempDataDir>>;
beforeAll(async () => {
  data = await tempDataDir();
  app = await appWithData(data.dir);
});
afterAll(async () => {
  await app.close();
  await data.remove();
});

const post = (payload: unknown) => app.inject({ method: 'POST', url: '/v1/training-jobs', payload: payload as Json });

describe('hostile training requests', () => {
  const cases: Array<[string, Json, number, string, RegExp]> = [
    ['an unknown layer', job({ model: { layers: [{ op: 'conv9d' }], input_shape: [1, 8, 8] } }), 400, 'INVALID_MODEL', /layer 0.*conv9d/],
    [
      'shapes that do not chain',
      job({ model: { layers: [...layers.slice(0, 4), { op: 'linear', name: 'fc', in_features: 40, out_features: 3 }], input_shape: [1, 8, 8] } }),
      400,
      'INVALID_MODEL',
      /fc.*mat1 and mat2 shapes cannot be multiplied/,
    ],
    [
      'a conv wider than its input',
      job({ model: { layers: [{ op: 'conv2d', name: 'c', in_channels: 1, out_channels: 2, kernel_size: 9 }], input_shape: [1, 8, 8] } }),
      400,
      'INVALID_MODEL',
      /Kernel size can't be greater than actual input size/,
    ],
    ['an output that is not class logits', job({ model: { layers: layers.slice(0, 3), input_shape: [1, 8, 8] } }), 400, 'INVALID_MODEL', /class logits/],
    ['a layer list that is not a list', job({ model: { layers: { op: 'relu' }, input_shape: [1, 8, 8] } }), 400, 'VALIDATION_ERROR', /layers/],
    ['a NaN learning rate', job({ optimizer: { name: 'sgd', lr: 'NaN' } }), 400, 'VALIDATION_ERROR', /optimizer/],
    ['a negative learning rate', job({ optimizer: { name: 'adam', lr: -0.1 } }), 400, 'VALIDATION_ERROR', /lr/],
    ['an unknown optimizer', job({ optimizer: { name: 'rmsprop', lr: 0.1 } }), 400, 'VALIDATION_ERROR', /optimizer/],
    ['Nesterov without momentum', job({ optimizer: { name: 'sgd', lr: 0.1, nesterov: true } }), 400, 'INVALID_TRAINING', /Nesterov momentum requires a momentum/],
    ['a beta of 1', job({ optimizer: { name: 'adam', betas: [1, 0.999] } }), 400, 'INVALID_TRAINING', /Invalid beta parameter at index 0: 1.0/],
    ['an absurd batch size', job({ batch_size: 1e9 }), 400, 'VALIDATION_ERROR', /batch_size/],
    [
      'a batch over the activation budget',
      job({ dataset: { builtin: 'mnist' }, model: { layers: [{ op: 'conv2d', name: 'c', in_channels: 1, out_channels: 64, kernel_size: 3 }, { op: 'flatten' }, { op: 'linear', name: 'fc', in_features: 43264, out_features: 10 }], input_shape: [1, 28, 28] }, batch_size: 8000 }),
      422,
      'TRAINING_TOO_LARGE',
      /TRAINING_MAX_BATCH_ELEMENTS/,
    ],
    ['zero epochs', job({ epochs: 0 }), 400, 'VALIDATION_ERROR', /epochs/],
    ['an unknown field', job({ learning_rate: 0.1 }), 400, 'VALIDATION_ERROR', /learning_rate/],
    ['data of the wrong shape', job({ dataset: { builtin: 'mnist' } }), 400, 'INVALID_DATASET', /\[1, 28, 28\].*\[1, 8, 8\]/],
    ['a target out of range', job({ dataset: { ...inline(4), targets: [0, 1, 2, 3] } }), 400, 'INVALID_DATASET', /targets\[3\] = 3/],
    ['targets that do not match the inputs', job({ dataset: { ...inline(4), targets: [0, 1] } }), 400, 'INVALID_DATASET', /expected shape \[4\]/],
    ['a ragged input', job({ dataset: { inputs: { data: [[1, 2], [3]] }, targets: [0] } }), 400, 'INVALID_TENSOR', /inputs/],
    [
      'an initial value for an unknown parameter',
      job({ model: { layers, input_shape: [1, 8, 8], initial_parameters: { 'conv9.weight': { shape: [1], data: [0] } } } }),
      400,
      'INVALID_MODEL',
      /unknown parameter 'conv9.weight'/,
    ],
    [
      'an initial value of the wrong shape',
      job({ model: { layers, input_shape: [1, 8, 8], initial_parameters: { 'fc.bias': { shape: [2], data: [0, 0] } } } }),
      400,
      'INVALID_MODEL',
      /'fc.bias' must be float \[3\]/,
    ],
    ['an unknown uploaded dataset', job({ dataset: { id: 'ds_0000000000000000' } }), 404, 'NOT_FOUND', /no dataset/],
    ['an unknown model to fine-tune', job({ model: { registered: 'nope' } }), 404, 'NOT_FOUND', /no model named 'nope'/],
    ['a bad model name', job({ register_as: '../evil' }), 400, 'VALIDATION_ERROR', /register_as/],
  ];
  it.each(cases)('rejects %s', async (_what, body, status, code, message) => {
    const res = await post(body);
    expect(res.statusCode, res.body).toBe(status);
    const error = res.json();
    expect(error).toMatchObject({ statusCode: status, code });
    expect(error.message).toMatch(message);
  });

  it('rejects a body that is not JSON', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/training-jobs', headers: { 'content-type': 'application/json' }, payload: '{"model":' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('MALFORMED_JSON');
  });

  it('answers 404 for an unknown job', async () => {
    for (const url of ['/v1/training-jobs/job_0000000000000000', '/v1/training-jobs/x/metrics.svg', '/v1/training-jobs/x/events']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().code).toBe('NOT_FOUND');
    }
  });
});

describe('training job life cycle', () => {
  it('queues beyond the concurrency, cancels queued and running jobs, and refuses to cancel a finished one', async () => {
    // Thousands of batches, so the cancel below surely arrives while the job trains.
    const first = await submitJob(app, job({ epochs: 20 }));
    const second = await submitJob(app, job());
    expect(first.state).toBe('running');
    expect(second.state).toBe('queued');

    const cancelQueued = await app.inject({ method: 'POST', url: `/v1/training-jobs/${second.id}/cancel` });
    expect(cancelQueued.statusCode).toBe(202);
    expect(cancelQueued.json().state).toBe('cancelled');

    await waitForJob(app, first.id, (j) => j.progress?.global_step >= 5);
    const cancel = await app.inject({ method: 'POST', url: `/v1/training-jobs/${first.id}/cancel` });
    expect(cancel.json().state).toBe('cancelling');
    const again = await app.inject({ method: 'POST', url: `/v1/training-jobs/${first.id}/cancel` });
    expect(again.statusCode).toBe(202);
    const cancelled = await waitForJob(app, first.id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.transitions.map((t: Json) => t.state)).toEqual(['queued', 'running', 'cancelling', 'cancelled']);
    expect(cancelled.checkpoint.global_step).toBeGreaterThanOrEqual(5);
    expect(cancelled.model).toBeNull();

    const quick = await submitJob(app, job({ dataset: inline(6), epochs: 1, batch_size: 3, register_as: 'quick' }));
    const done = await waitForJob(app, quick.id);
    expect(done.state).toBe('succeeded');
    const late = await app.inject({ method: 'POST', url: `/v1/training-jobs/${quick.id}/cancel` });
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe('CONFLICT');

    const list = (await app.inject({ method: 'GET', url: '/v1/training-jobs?state=cancelled&limit=1' })).json();
    expect(list.total).toBe(2);
    expect(list.items.map((j: Json) => j.id)).toEqual([second.id]);
    const page2 = (await app.inject({ method: 'GET', url: '/v1/training-jobs?state=cancelled&limit=1&offset=1' })).json();
    expect(page2.items.map((j: Json) => j.id)).toEqual([first.id]);
    const bad = await app.inject({ method: 'GET', url: '/v1/training-jobs?state=sleeping' });
    expect(bad.statusCode).toBe(400);
  });

  it('keeps /v1/ops answering while a job trains', async () => {
    // Tens of thousands of batches: far more than the few ops below could ever wait for.
    const training = await submitJob(app, job({ dataset: inline(400), epochs: 100, batch_size: 1 }));
    await waitForJob(app, training.id, (j) => j.progress?.global_step >= 2);
    for (let i = 0; i < 5; i++) {
      const op = await app.inject({ method: 'POST', url: '/v1/ops/max_pool2d', payload: { input: { shape: [1, 1, 2, 2], data: [1, 2, 3, 4] }, kernel_size: 2 } });
      expect(op.json()).toEqual({ output: { shape: [1, 1, 1, 1], dtype: 'float32', data: [4] } });
    }
    // The ops were answered while the job was still training, not after it.
    const still = (await app.inject({ method: 'GET', url: `/v1/training-jobs/${training.id}` })).json();
    expect(still.state).toBe('running');
    expect(still.progress.global_step).toBeLessThan(still.progress.total_steps);
    await app.inject({ method: 'POST', url: `/v1/training-jobs/${training.id}/cancel` });
    expect((await waitForJob(app, training.id)).state).toBe('cancelled');
  });

  it('records progress and metrics, draws them as SVG, registers the model with provenance', async () => {
    const submitted = await submitJob(app, job({ epochs: 2, batch_size: 20, register_as: 'tiny-cnn' }));
    expect(submitted.transitions[0].state).toBe('queued');
    const done = await waitForJob(app, submitted.id);
    expect(done.state).toBe('succeeded');
    expect(done.progress).toMatchObject({ epoch: 2, epochs: 2, step: 20, steps_per_epoch: 20, global_step: 40, total_steps: 40 });
    expect(done.metrics).toHaveLength(2);
    expect(Object.keys(done.metrics[0]).sort()).toEqual(['epoch', 'seconds', 'test_accuracy', 'test_loss', 'train_accuracy', 'train_loss']);
    for (const t of done.transitions) expect(Number.isNaN(Date.parse(t.at))).toBe(false);
    expect(done.model).toEqual({ name: 'tiny-cnn', version: 1 });

    const version = (await app.inject({ method: 'GET', url: '/v1/models/tiny-cnn/versions/1' })).json();
    expect(version.provenance).toMatchObject({ source: 'training', job_id: submitted.id, dataset: { inline: true, train_size: 400, validation_size: 30 } });
    expect(version.provenance.metrics).toEqual(done.metrics);
    expect(version.parameters.map((p: Json) => p.name)).toEqual(['conv1.weight', 'conv1.bias', 'fc.weight', 'fc.bias']);

    const svg = await app.inject({ method: 'GET', url: `/v1/training-jobs/${submitted.id}/metrics.svg` });
    expect(svg.statusCode).toBe(200);
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(svg.body).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.body.match(/<path /g)).toHaveLength(4); // train/test loss, train/test accuracy
  });

  it('streams events: the current state first, then progress, epochs and the final state', async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const submitted = await submitJob(app, job({ epochs: 2, batch_size: 20 }));
    const res = await request(`http://127.0.0.1:${port}/v1/training-jobs/${submitted.id}/events`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const text = await res.body.text();
    const events = text
      .split('\n\n')
      .filter((block) => block.startsWith('event:'))
      .map((block) => {
        const [eventLine, dataLine] = block.split('\n');
        return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) };
      });
    expect(events[0]!.event).toBe('state');
    expect(events[0]!.data.id).toBe(submitted.id);
    expect(events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch)).toEqual([1, 2]);
    expect(events.some((e) => e.event === 'progress')).toBe(true);
    expect(events.at(-1)).toMatchObject({ event: 'state', data: { state: 'succeeded' } });

    // A client that connects after the end gets the final state and the stream closes.
    const late = await request(`http://127.0.0.1:${port}/v1/training-jobs/${submitted.id}/events`);
    const lateText = await late.body.text();
    expect(lateText.match(/^event: /gm)).toHaveLength(1);
    expect(lateText).toMatch(/"state":"succeeded"/);
  });
});

describe('restarts', () => {
  it('resumes a job interrupted by a restart and ends as an uninterrupted run would', async () => {
    const own = await tempDataDir();
    try {
      // 800 batches: the restart surely comes before the end.
      const body = job({ epochs: 2, batch_size: 1, register_as: 'resumed' });
      let server = await appWithData(own.dir);
      const submitted = await submitJob(server, body);
      await waitForJob(server, submitted.id, (j) => j.progress?.global_step >= 15);
      await server.close();

      server = await appWithData(own.dir);
      const resumed = await waitForJob(server, submitted.id);
      expect(resumed.state).toBe('succeeded');
      const states = resumed.transitions.map((t: Json) => t.state);
      expect(states).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
      expect(resumed.transitions[2].reason).toMatch(/restarted/);

      const reference = await waitForJob(server, (await submitJob(server, { ...body, register_as: 'reference' })).id);
      const digest = async (name: string) => (await server.inject({ method: 'GET', url: `/v1/models/${name}/versions/1` })).json().weights.sha256;
      expect(await digest('resumed')).toBe(await digest('reference'));
      const strip = (metrics: Json[]) => metrics.map(({ seconds: _, ...m }) => m);
      expect(strip(resumed.metrics)).toEqual(strip(reference.metrics));

      // A crash (threads stopped without a checkpoint) resumes from the last epoch's checkpoint.
      const crashed = await submitJob(server, { ...body, register_as: 'crashed' });
      await waitForJob(server, crashed.id, (j) => j.metrics.length >= 1);
      await server.trainingJobs.close({ abandon: true });
      await server.close();
      server = await appWithData(own.dir);
      const recovered = await waitForJob(server, crashed.id);
      expect(recovered.state).toBe('succeeded');
      expect(await digest('crashed')).toBe(await digest('reference'));
      await server.close();
    } finally {
      await own.remove();
    }
  });
});
