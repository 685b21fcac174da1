import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../../src/kernels/registry.js';
import { loadGolden } from '../helpers/golden.js';
import { startApp, type Json } from './helpers.js';

const seed = loadGolden('seed_example.json').cases;
const seedImage = seed[0]!.input!;
const has = (fn: string) => ops.has(fn);

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp({ maxTensorElements: 10_000, maxOutputElements: 20_000, maxWork: 1_000_000, bodyLimitBytes: 200_000 });
});
afterAll(async () => {
  await app.close();
});

const post = async (url: string, payload: unknown, headers: Record<string, string> = {}) => {
  const res = await app.inject({ method: 'POST', url, payload: payload as object, headers });
  return { status: res.statusCode, headers: res.headers, body: res.json() as Json };
};

/** Every error reply has exactly this shape. */
function expectError(body: Json, status: number, code: string) {
  expect(body).toMatchObject({ statusCode: status, code });
  expect(typeof body.error).toBe('string');
  expect(typeof body.message).toBe('string');
  expect(Object.keys(body).sort()).toEqual(
    body.python_error ? ['code', 'error', 'message', 'python_error', 'statusCode'] : ['code', 'error', 'message', 'statusCode'],
  );
}

describe.skipIf(!has('max_pool2d'))('the tutorial example', () => {
  it('max_pool2d(img, kernel_size=2) returns [[[[1,1],[3,3]],[[5,5],[7,7]]]]', async () => {
    const { status, body } = await post('/v1/ops/max_pool2d', { input: seedImage, kernel_size: 2 });
    expect(status).toBe(200);
    expect(body).toEqual({ output: { shape: [1, 2, 2, 2], dtype: 'float32', data: [1, 1, 3, 3, 5, 5, 7, 7] } });
  });

  it('accepts the image as nested arrays without a shape', async () => {
    const nested = [[[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]], [[4, 4, 4, 4], [5, 5, 5, 5], [6, 6, 6, 6], [7, 7, 7, 7]]];
    const { status, body } = await post('/v1/ops/max_pool2d', { input: { data: [nested] }, kernel_size: 2 });
    expect(status).toBe(200);
    expect(body.output.data).toEqual([1, 1, 3, 3, 5, 5, 7, 7]);
  });

  it('returns int64 indices with return_indices', async () => {
    const { body } = await post('/v1/ops/max_pool2d', { input: seedImage, kernel_size: 2, return_indices: true });
    expect(body.indices).toEqual({ shape: [1, 2, 2, 2], dtype: 'int64', data: [4, 6, 12, 14, 4, 6, 12, 14] });
  });

  it('writes base64 replies when asked', async () => {
    const { body } = await post('/v1/ops/max_pool2d', { input: seedImage, kernel_size: 2, return_indices: true, encoding: 'base64' });
    expect(body.output.dtype).toBe('float32');
    const values = new Float32Array(new Uint8Array(Buffer.from(body.output.data, 'base64')).buffer);
    expect([...values]).toEqual([1, 1, 3, 3, 5, 5, 7, 7]);
    const indices = new BigInt64Array(new Uint8Array(Buffer.from(body.indices.data, 'base64')).buffer);
    expect([...indices]).toEqual([4n, 6n, 12n, 14n, 4n, 6n, 12n, 14n]);
  });

  it('accepts base64 input and float64', async () => {
    const f64 = Float64Array.from(seedImage.data as number[]);
    const input = { shape: [1, 2, 4, 4], dtype: 'float64', data: Buffer.from(f64.buffer).toString('base64') };
    const { status, body } = await post('/v1/ops/max_pool2d', { input, kernel_size: 2 });
    expect(status).toBe(200);
    expect(body.output).toEqual({ shape: [1, 2, 2, 2], dtype: 'float64', data: [1, 1, 3, 3, 5, 5, 7, 7] });
  });

  it('accepts a golden case as it is, keyword arguments under params', async () => {
    const { status, body } = await post('/v1/ops/max_pool2d', seed[1]);
    expect(status).toBe(200);
    expect(body.output).toEqual({ ...seed[1]!.output, dtype: 'float32' });
  });

  it('refuses a keyword argument given twice', async () => {
    const { status, body } = await post('/v1/ops/max_pool2d', { ...seed[1], kernel_size: 3 });
    expect(status).toBe(400);
    expectError(body, 400, 'BAD_REQUEST');
    expect(body.message).toBe('kernel_size is given both at the top level and in params');
  });

  it("answers an argument error with PyTorch's message and exception type, before queueing", async () => {
    const { status, body } = await post('/v1/ops/max_pool2d', { input: seedImage, kernel_size: 3, padding: 2 });
    expect(status).toBe(400);
    expectError(body, 400, 'INVALID_ARGUMENT');
    expect(body.message).toBe('pad should be at most half of kernel size, but got pad=2 and kernel_size=3');
    expect(body.python_error).toBe('RuntimeError');
  });

  it('computes the backward, with grad_input of the input shape', async () => {
    const grad_output = { shape: [1, 2, 2, 2], data: [1, 2, 3, 4, 5, 6, 7, 8] };
    const { status, body } = await post('/v1/ops/max_pool2d/backward', { input: seedImage, kernel_size: 2, grad_output });
    expect(status).toBe(200);
    expect(body.grad_input.shape).toEqual([1, 2, 4, 4]);
    expect(body.grad_input.data.reduce((a: number, b: number) => a + b, 0)).toBe(36);
  });

  it("refuses a grad_output of the wrong shape with autograd's message", async () => {
    const { status, body } = await post('/v1/ops/max_pool2d/backward', { input: seedImage, kernel_size: 2, grad_output: { shape: [2], data: [1, 1] } });
    expect(status).toBe(400);
    expect(body.message).toBe(
      'Mismatch in shape: grad_output[0] has a shape of torch.Size([2]) and output[0] has a shape of torch.Size([1, 2, 2, 2]).',
    );
  });
});

describe.skipIf(!has('mean'))('mean, as in the tutorial', () => {
  it('img.mean(3) then .mean(2) gives the global average', async () => {
    const m1 = await post('/v1/ops/mean', { input: seedImage, dim: 3 });
    expect(m1.body.output).toEqual({ shape: [1, 2, 4], dtype: 'float32', data: [0, 1, 2, 3, 4, 5, 6, 7] });
    const m2 = await post('/v1/ops/mean', { input: m1.body.output, dim: 2 });
    expect(m2.body.output).toEqual({ shape: [1, 2], dtype: 'float32', data: [1.5, 5.5] });
  });
});

describe('validation', () => {
  const op = has('max_pool2d') ? 'max_pool2d' : [...ops.keys()][0]!;

  it('names the field of a wrong type', async () => {
    const { status, body } = await post(`/v1/ops/${op}`, { input: { shape: [1, 1, 2, 2], data: [1, 2, 3, 4] }, kernel_size: 'two', ceil_mode: 1 });
    expect(status).toBe(400);
    expectError(body, 400, 'VALIDATION_ERROR');
    if (op === 'max_pool2d') expect(body.message).toContain('body.kernel_size: expected an int or a list of ints');
  });

  it('refuses unknown fields', async () => {
    const { status, body } = await post(`/v1/ops/${op}`, { input: { data: [1] }, kernal_size: 2 });
    expect(status).toBe(400);
    expect(body.message).toContain('Unrecognized key: "kernal_size"');
  });

  it('refuses a missing input', async () => {
    const { status, body } = await post(`/v1/ops/${op}`, { kernel_size: 2 });
    expect(status).toBe(400);
    expect(body.message).toContain('body.input');
  });

  it('refuses malformed tensors, naming the place', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ shape: [2, 2], data: [1, 2, 3] }, /input\.data: shape \[2, 2\] needs 4 elements, but data has 3/],
      [{ data: [[1, 2], [3]] }, /input\.data\[1\]: ragged nesting/],
      [{ shape: [1], dtype: 'float16', data: [1] }, /input\.dtype/],
      [{ shape: [1], data: 'not base64' }, /input\.data: not a valid base64 string/],
      [{ shape: [-1], data: [] }, /input\.shape\[0\]/],
      [{ shape: [2], data: [1, 'nan'] }, /input\.data\[1\]: expected a number/],
      [{ shape: [1], data: {} }, /input\.data/],
    ];
    for (const [input, message] of cases) {
      const { status, body } = await post(`/v1/ops/${op}`, { input, kernel_size: 1 });
      expect(status, JSON.stringify(input)).toBe(400);
      expect(body.message).toMatch(message);
    }
  });

  it('refuses an int64 tensor where floats are expected', async () => {
    const { status, body } = await post(`/v1/ops/${op}`, { input: { shape: [1, 1, 1, 1], dtype: 'int64', data: [1] }, kernel_size: 1 });
    expect(status).toBe(400);
    expectError(body, 400, 'INVALID_DTYPE');
  });

  it('answers malformed JSON, empty bodies and other media types with 4xx', async () => {
    const bad = await app.inject({ method: 'POST', url: `/v1/ops/${op}`, headers: { 'content-type': 'application/json' }, payload: '{"input": [' });
    expect(bad.statusCode).toBe(400);
    expectError(bad.json(), 400, 'MALFORMED_JSON');
    const empty = await app.inject({ method: 'POST', url: `/v1/ops/${op}`, headers: { 'content-type': 'application/json' }, payload: '' });
    expect(empty.statusCode).toBe(400);
    const text = await app.inject({ method: 'POST', url: `/v1/ops/${op}`, headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    expect(text.statusCode).toBe(415);
    expectError(text.json(), 415, 'UNSUPPORTED_MEDIA_TYPE');
    const proto = await app.inject({ method: 'POST', url: `/v1/ops/${op}`, headers: { 'content-type': 'application/json' }, payload: '{"__proto__": {"x": 1}}' });
    expect(proto.statusCode).toBe(400);
  });
});

describe('limits', () => {
  const op = has('max_pool2d') ? 'max_pool2d' : undefined;

  it('answers a body over BODY_LIMIT_BYTES with 413', async () => {
    const { status, body } = await post('/v1/ops/mean', { input: { data: new Array(60_000).fill(1.5) } });
    expect(status).toBe(413);
    expectError(body, 413, 'BODY_TOO_LARGE');
    expect(body.message).toContain('BODY_LIMIT_BYTES=200000');
  });

  it('answers a tensor over MAX_TENSOR_ELEMENTS with 413, naming the limit', async () => {
    const { status, body } = await post('/v1/ops/mean', { input: { shape: [10_001], dtype: 'float32', data: Buffer.alloc(40_004).toString('base64') } });
    expect(status).toBe(413);
    expectError(body, 413, 'TENSOR_TOO_LARGE');
    expect(body.message).toBe('input has 10001 elements, more than MAX_TENSOR_ELEMENTS=10000');
    const huge = await post('/v1/ops/mean', { input: { shape: [1e9, 1e9], data: [] } });
    expect(huge.status).toBe(413);
  });

  it.skipIf(!op)('answers an output over MAX_OUTPUT_ELEMENTS with 422, naming the limit', async () => {
    // 2 x 70 x 70 in; padding gives 2 x 71 x 71 values and as many indices
    const input = { shape: [2, 70, 70], data: Buffer.alloc(4 * 9800).toString('base64') };
    const { status, body } = await post(`/v1/ops/${op}`, { input, kernel_size: 2, stride: 1, padding: 1, return_indices: true });
    expect(status).toBe(422);
    expectError(body, 422, 'OUTPUT_TOO_LARGE');
    expect(body.message).toMatch(/^the result would have 20164 elements, more than MAX_OUTPUT_ELEMENTS=20000$/);
  });

  it.skipIf(!op)('answers too much estimated work with 422, naming the limit', async () => {
    const input = { shape: [1, 1, 100, 100], data: Buffer.alloc(40_000).toString('base64') };
    const { status, body } = await post(`/v1/ops/${op}`, { input, kernel_size: 50, stride: 1 });
    expect(status).toBe(422);
    expectError(body, 422, 'WORK_TOO_LARGE');
    expect(body.message).toMatch(/more than MAX_WORK=1000000$/);
  });
});

describe('routing', () => {
  it('answers an unknown op with 404 and where to look', async () => {
    const { status, body } = await post('/v1/ops/max_pool4d', { input: { data: [1] } });
    expect(status).toBe(404);
    expectError(body, 404, 'UNKNOWN_OP');
    expect(body.message).toBe("unknown op 'max_pool4d'; GET /v1/ops lists the available ones");
    const back = await post('/v1/ops/max_pool4d/backward', {});
    expect(back.status).toBe(404);
  });

  it('answers unknown routes with the same error shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/nowhere' });
    expect(res.statusCode).toBe(404);
    expectError(res.json(), 404, 'NOT_FOUND');
  });

  it('lists every registered op with its arguments', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/ops' });
    const list = res.json().ops as Json[];
    expect(list.map((o) => o.name).sort()).toEqual([...ops.keys()].sort());
    for (const entry of list) {
      expect(entry.path).toBe(`/v1/ops/${entry.name}`);
      expect(entry.arguments.type).toBe('object');
    }
    const maxPool = list.find((o) => o.name === 'max_pool2d');
    if (maxPool) {
      expect(Object.keys(maxPool.arguments.properties)).toEqual(['kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices']);
      expect(maxPool.arguments.required).toEqual(['kernel_size']);
      expect(maxPool.arguments.properties.padding.default).toBe(0);
    }
  });

  it('echoes a request id, or makes one', async () => {
    const given = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'bad id\n' } });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
