/**
 * Hostile bodies never get a 5xx, a hang or a crash: random JSON, wrong types, huge and negative
 * shapes, non-finite strings in the wrong places, ragged nests, bad base64, extreme arguments on
 * well-formed tensors. Every refusal has the one error shape.
 */
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../../src/kernels/registry.js';
import { requestExamples } from '../../src/routes/ops.js';
import { startApp, type Json } from './helpers.js';

const routes = [...ops.values()].flatMap((op) => {
  const forward = `/v1/ops/${op.name}`;
  return op.backward && op.gradients.length > 0 ? [forward, `${forward}/backward`] : [forward];
});
const templates = routes.map((url) => ({ url, body: Object.values(requestExamples(url) ?? {})[0]?.value ?? { input: { data: [1] } } }));

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp({
    workerThreads: 2,
    maxTensorElements: 4096,
    maxOutputElements: 65_536,
    maxWork: 5_000_000,
    bodyLimitBytes: 256 * 1024,
  });
});
afterAll(async () => {
  await app.close();
});

async function send(url: string, payload: string) {
  const res = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
  return { status: res.statusCode, body: res.body };
}

function expectErrorShape(status: number, text: string) {
  const body = JSON.parse(text) as Json;
  expect(body.statusCode).toBe(status);
  expect(typeof body.code).toBe('string');
  expect(typeof body.error).toBe('string');
  expect(typeof body.message).toBe('string');
}

// --- generators ---------------------------------------------------------------------------------

const extremeInt = fc.oneof(
  fc.constantFrom(0, -1, 1, 2, 3, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1)),
  fc.integer({ min: -1000, max: 1000 }),
  fc.integer(),
);
const hostileNumber = fc.oneof(extremeInt, fc.constantFrom(-0, 0.5, 1.5, 1e308, -1e308, 5e-324), fc.double({ noNaN: true, noDefaultInfinity: true }));
const hostileScalar = fc.oneof(
  hostileNumber,
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '', 'same', 'valid', 'full', 'mean', '1', 'AAAA', '====', '__proto__'),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
);
const deepNest = fc.integer({ min: 1, max: 3000 }).map((depth) => {
  let v: unknown = [1];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
});
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileScalar },
  { weight: 2, arbitrary: fc.array(hostileScalar, { maxLength: 6 }) },
  { weight: 2, arbitrary: fc.array(extremeInt, { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: deepNest },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), hostileScalar, { maxKeys: 3 }) },
);

/** Tensors that are wrong in one way or several. */
const hostileShape = fc.oneof(
  fc.array(hostileNumber, { maxLength: 6 }),
  fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 6 }),
  fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 6 }),
  fc.constant(new Array(40).fill(1)),
  hostileValue,
);
const raggedNest = fc.array(fc.array(fc.oneof(hostileNumber, fc.array(hostileNumber, { maxLength: 3 })), { maxLength: 4 }), { minLength: 1, maxLength: 4 });
const hostileData = fc.oneof(
  fc.array(hostileScalar, { maxLength: 16 }),
  raggedNest,
  fc.string({ maxLength: 40 }),
  fc.base64String({ maxLength: 64 }),
  hostileValue,
);
const hostileTensor = fc.record(
  {
    shape: hostileShape,
    data: hostileData,
    dtype: fc.oneof(fc.constantFrom('float32', 'float64', 'int64', 'float16', 'INT64'), hostileValue),
    extra: hostileValue,
  },
  { requiredKeys: [] },
);

/** Well-formed tensors of awkward shapes (empty, scalar, long, high rank) with non-finite values. */
const wellFormedTensor = fc
  .array(fc.integer({ min: 0, max: 6 }), { maxLength: 6 })
  .chain((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const element = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -3, max: 3 }), fc.constantFrom('NaN', 'Infinity', '-Infinity'));
    return fc.record({
      shape: fc.constant(shape),
      data: fc.array(element, { minLength: n, maxLength: n }),
      dtype: fc.constantFrom(undefined, 'float32', 'float64', 'int64'),
    });
  })
  .map(({ dtype, ...t }) => (dtype ? { ...t, dtype } : t));

/** A documented example with some fields replaced by hostile values and some keys added. */
const mutatedRequest = fc
  .record({
    template: fc.constantFrom(...templates),
    changes: fc.array(
      fc.tuple(fc.nat(), fc.oneof({ weight: 3, arbitrary: hostileValue }, { weight: 2, arbitrary: hostileTensor }, { weight: 2, arbitrary: wellFormedTensor })),
      { minLength: 1, maxLength: 3 },
    ),
    extraKey: fc.option(fc.tuple(fc.constantFrom('params', 'encoding', 'grad_output', 'indices', 'id', 'bias', 'weight', 'kernal_size'), hostileValue)),
  })
  .map(({ template, changes, extraKey }) => {
    const body: Json = structuredClone(template.body);
    const keys = Object.keys(body);
    for (const [i, value] of changes) body[keys[i % keys.length]!] = value;
    if (extraKey) body[extraKey[0]] = extraKey[1];
    return { url: template.url, body };
  });

/** Valid tensors and extreme integer arguments: the kernels' own checks must hold. */
const extremeArguments = fc
  .record({
    template: fc.constantFrom(...templates),
    values: fc.array(fc.oneof(extremeInt, fc.array(extremeInt, { minLength: 1, maxLength: 5 }), fc.constant(null)), { minLength: 1, maxLength: 3 }),
    which: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  })
  .map(({ template, values, which }) => {
    const body: Json = structuredClone(template.body);
    const argNames = Object.keys(body).filter((k) => !(typeof body[k] === 'object' && body[k] !== null && 'data' in body[k]));
    which.forEach((w, i) => {
      if (argNames.length > 0) body[argNames[w % argNames.length]!] = values[i % values.length];
    });
    return { url: template.url, body };
  });

const runs = { numRuns: 300, endOnFailure: true } as const;

describe('hostile bodies', () => {
  it('random JSON is answered 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.jsonValue({ maxDepth: 4 }), async (url, value) => {
        const { status, body } = await send(url, JSON.stringify(value));
        expect(status, body).toBeGreaterThanOrEqual(400);
        expect(status, body).toBeLessThan(500);
        expectErrorShape(status, body);
      }),
      runs,
    );
  });

  it('text that is not JSON is answered 400', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(fc.string(), fc.constantFrom('{', '[1,', '{"input":', 'NaN', '{"a":1}}', '\u0000')), async (url, text) => {
        fc.pre(!isJson(text));
        const { status, body } = await send(url, text);
        expect(status, body).toBe(400);
        expectErrorShape(status, body);
      }),
      runs,
    );
  });

  it('examples with hostile fields never get a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedRequest, async ({ url, body: request }) => {
        const { status, body } = await send(url, JSON.stringify(request));
        expect(status, `${url} ${JSON.stringify(request).slice(0, 400)} -> ${body}`).toBeLessThan(500);
        if (status >= 400) expectErrorShape(status, body);
      }),
      runs,
    );
  });

  it('extreme arguments on well-formed tensors never get a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(extremeArguments, async ({ url, body: request }) => {
        const { status, body } = await send(url, JSON.stringify(request));
        expect(status, `${url} ${JSON.stringify(request).slice(0, 400)} -> ${body}`).toBeLessThan(500);
        if (status >= 400) expectErrorShape(status, body);
      }),
      runs,
    );
  });

  it('the service still answers afterwards', async () => {
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
  });
});

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
