/**
 * Hostile training requests never get a 5xx: a valid job with one field replaced by an arbitrary
 * value, and random layer lists built from every layer op with extreme arguments. Anything the
 * service accepts is cancelled at once, so no real training runs.
 */
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAYER_OPS } from '../../src/nn/model.js';
import type { Json } from '../service/helpers.js';
import { appWithData, tempDataDir } from './helpers.js';

const valid = (): Json => ({
  model: {
    input_shape: [1, 4, 4],
    layers: [
      { op: 'conv2d', name: 'conv', in_channels: 1, out_channels: 2, kernel_size: 3 },
      { op: 'relu' },
      { op: 'flatten' },
      { op: 'linear', name: 'fc', in_features: 8, out_features: 2 },
    ],
  },
  dataset: { inputs: { shape: [2, 1, 4, 4], data: new Array(32).fill(0.5) }, targets: [0, 1] },
  optimizer: { name: 'adam', lr: 0.01 },
  epochs: 1,
  batch_size: 2,
});

/** Where a hostile value may land in the valid body. */
const PATHS = [
  ['model'], ['model', 'input_shape'], ['model', 'input_shape', 1], ['model', 'layers'], ['model', 'layers', 0],
  ['model', 'layers', 0, 'kernel_size'], ['model', 'layers', 0, 'out_channels'], ['model', 'layers', 3, 'in_features'],
  ['model', 'seed'], ['model', 'initial_parameters'], ['dataset'], ['dataset', 'inputs'], ['dataset', 'inputs', 'shape'],
  ['dataset', 'inputs', 'data'], ['dataset', 'targets'], ['dataset', 'targets', 0], ['dataset', 'validation'],
  ['optimizer'], ['optimizer', 'name'], ['optimizer', 'lr'], ['optimizer', 'betas'], ['optimizer', 'eps'],
  ['loss'], ['loss', 'label_smoothing'], ['epochs'], ['batch_size'], ['shuffle'], ['seed'], ['register_as'],
] as const;

const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom('NaN', 'Infinity', -1, 0, 1e308, -1e308, 2 ** 53, 1.5, '', '../x', null, [], {}, [[1], [2, 3]], { registered: 'x' }, { builtin: 'mnist' }, { id: 'ds_x' }),
);

function setAt(body: Json, path: readonly (string | number)[], value: unknown): Json {
  let node: Json = body;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) return body;
    node = node[key];
  }
  node[path.at(-1)!] = value;
  return body;
}

const argument = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.constantFrom(null, true, 'same', [2, 2], [0, -1], [1, 2, 3], 1.5, 'x'));
const randomLayer = fc.record(
  {
    op: fc.oneof(fc.constantFrom(...LAYER_OPS), fc.string({ maxLength: 8 })),
    name: fc.constantFrom('a', 'b', 'a'),
    kernel_size: argument,
    stride: argument,
    padding: argument,
    in_channels: argument,
    out_channels: argument,
    in_features: argument,
    out_features: argument,
    output_size: argument,
    norm_type: argument,
    num_features: argument,
  },
  { requiredKeys: ['op'] },
);

let app: FastifyInstance;
let data: Awaited<ReturnType<typeof tempDataDir>>;
beforeAll(async () => {
  data = await tempDataDir();
  app = await appWithData(data.dir, { maxTensorElements: 4096 });
});
afterAll(async () => {
  await app.close();
  await data.remove();
});

async function submit(body: unknown) {
  const res = await app.inject({ method: 'POST', url: '/v1/training-jobs', payload: body as Json });
  expect(res.statusCode, res.body).toBeLessThan(500);
  if (res.statusCode === 202) {
    await app.inject({ method: 'POST', url: `/v1/training-jobs/${res.json().id}/cancel` });
  } else {
    const error = res.json();
    expect(error.statusCode).toBe(res.statusCode);
    expect(typeof error.code).toBe('string');
    expect(typeof error.message).toBe('string');
  }
}

describe('training request fuzzing', () => {
  it('answers a valid job with one field replaced by anything with 202 or 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PATHS), hostile, async (path, value) => submit(setAt(valid(), path, value))),
      { numRuns: 300 },
    );
  });

  it('answers random layer lists with 202 or 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(randomLayer, { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 4 }), async (layers, inputShape) =>
        submit({ ...valid(), model: { layers, input_shape: inputShape } }),
      ),
      { numRuns: 300 },
    );
  });
});
