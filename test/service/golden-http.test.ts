/**
 * Every pooling golden case, posted over HTTP as it is (forward and backward), gives PyTorch's
 * result; every errors.json case gives PyTorch's message. Only cases whose fn is registered run.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../../src/kernels/registry.js';
import type { Tensor } from '../../src/kernels/tensor.js';
import {
  decodeF32,
  decodeInt,
  expectClose,
  expectExact,
  loadGolden,
  type EncodedTensor,
  type GoldenCase,
} from '../helpers/golden.js';
import { startApp, type Json } from './helpers.js';

const FILES = ['max_pool.json', 'avg_pool.json', 'adaptive_pool.json', 'lp_pool.json', 'max_unpool.json', 'seed_example.json'];
const cases = FILES.flatMap((file) => loadGolden(file).cases).filter((c) => ops.has(c.fn));
const errorCases = loadGolden('errors.json').cases.filter((c) => ops.has(c.fn));

/**
 * LP pooling goes through PyTorch's vectorised pow, and an adaptive average pool whose output size
 * is all ones is a mean() with its own summation order: those two are compared to a few ulp; the
 * rest bit for bit.
 */
function tolerance(c: GoldenCase): { atol: number; rtol: number } | undefined {
  if (c.fn.startsWith('lp_pool')) return { atol: 1e-6, rtol: 1e-5 };
  if (c.fn.startsWith('adaptive_avg_pool') && c.output!.shape.slice(-Number(c.fn.at(-2))).every((d) => d === 1)) {
    return { atol: 1e-6, rtol: 1e-5 };
  }
  return undefined;
}

function compare(actual: Json, expected: EncodedTensor, c: GoldenCase) {
  expect(actual.dtype).toBe('float32');
  const tensor: Tensor = decodeF32(actual as EncodedTensor);
  const tol = tolerance(c);
  if (tol) expectClose(tensor, expected, tol.atol, tol.rtol);
  else expectExact(tensor, expected);
}

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp({ workerThreads: 2 });
});
afterAll(async () => {
  await app.close();
});

async function post(url: string, body: unknown) {
  const res = await app.inject({ method: 'POST', url, payload: body as object });
  return { status: res.statusCode, body: res.json() as Json, text: res.body };
}

describe('golden pooling cases over HTTP', () => {
  it('covers the registered pooling ops', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  for (const c of cases) {
    it(`${c.id}: forward`, async () => {
      const { status, body, text } = await post(`/v1/ops/${c.fn}`, c);
      expect(status, text).toBe(200);
      compare(body.output, c.output!, c);
      // max_unpool's `indices` is an input; everywhere else it is the second result
      if (c.indices && !c.fn.startsWith('max_unpool')) {
        expect(body.indices.dtype).toBe('int64');
        expectExact(decodeInt(body.indices), c.indices);
      }
    });

    if (c.grad_output && c.grad_input) {
      it(`${c.id}: backward`, async () => {
        const { status, body, text } = await post(`/v1/ops/${c.fn}/backward`, c);
        expect(status, text).toBe(200);
        compare(body.grad_input, c.grad_input!, c);
      });
    }
  }
});

const zeros = (shape: number[]) => ({ shape, data: new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0) });

/** The call an errors.json case describes: zero tensors of the given shapes, the given params. */
function errorRequest(c: GoldenCase): Json {
  const body: Json = { input: zeros(c.input_shape as number[]), ...c.params };
  if (c.weight_shape) body.weight = zeros(c.weight_shape as number[]);
  if (c.bias_shape) body.bias = zeros(c.bias_shape as number[]);
  if (c.running_mean_shape) body.running_mean = zeros(c.running_mean_shape as number[]);
  if (c.running_var_shape) body.running_var = zeros(c.running_var_shape as number[]);
  if (c.indices) body.indices = c.indices;
  if (c.target) body.target = c.target;
  return body;
}

describe("errors.json over HTTP: 400 with PyTorch's message", () => {
  for (const c of errorCases) {
    it(`${c.id}`, async () => {
      const { status, body } = await post(`/v1/ops/${c.fn}`, errorRequest(c));
      expect(status).toBe(400);
      if (c.error === 'TypeError' && body.code === 'VALIDATION_ERROR') {
        // A Python-level type error: the schema refuses the value first, naming the argument.
        expect(Object.keys(c.params).some((name) => (body.message as string).includes(`body.${name}:`)), body.message).toBe(true);
        return;
      }
      expect(body).toEqual({
        statusCode: 400,
        code: 'INVALID_ARGUMENT',
        error: 'Bad Request',
        message: c.message,
        python_error: c.error,
      });
    });
  }
});
