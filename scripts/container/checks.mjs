// HTTP checks against a running convpool container, for scripts/container-test.sh.
// Usage: node checks.mjs <check> <base url> [args...]; exits non-zero with a reason on failure.
// Plain Node (global fetch), no dependencies: it runs before or without the project's packages.
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';

const [check, base, ...args] = process.argv.slice(2);

async function request(method, path, body) {
  const response = await fetch(new URL(path, base), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

/** Polls until the path answers 200 or the deadline passes; connection errors mean "not yet". */
async function waitFor(path, timeoutSeconds) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const { status, text } = await request('GET', path);
      if (status === 200) return;
      last = `${status} ${text.slice(0, 200)}`;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(250);
  }
  fail(`${path} not ready after ${timeoutSeconds}s (last: ${last})`);
}

/** The tutorial example: max_pool2d(kernel_size=2) of a 1x2x4x4 image whose rows are 0..7. */
async function seedExample() {
  const data = [0, 1, 2, 3, 4, 5, 6, 7].flatMap((row) => [row, row, row, row]);
  const input = { shape: [1, 2, 4, 4], data };
  const { status, text, json } = await request('POST', '/v1/ops/max_pool2d', { input, kernel_size: 2 });
  if (status !== 200) fail(`max_pool2d answered ${status}: ${text.slice(0, 500)}`);
  const expected = [[[[1, 1], [3, 3]], [[5, 5], [7, 7]]]];
  const output = nested(json?.output);
  if (!isDeepStrictEqual(output, expected)) {
    fail(`max_pool2d output ${JSON.stringify(json?.output)}, expected ${JSON.stringify(expected)}`);
  }
}

/** A tensor as nested arrays, whether it came nested or as { shape, data }. */
function nested(tensor) {
  if (Array.isArray(tensor)) return tensor;
  if (!tensor || !Array.isArray(tensor.shape) || !Array.isArray(tensor.data)) return tensor;
  const build = (offset, dims) => {
    if (dims.length === 0) return tensor.data[offset];
    const stride = dims.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[0] }, (_, i) => build(offset + i * stride, dims.slice(1)));
  };
  return build(0, tensor.shape);
}

async function swaggerUi() {
  const { status, text } = await request('GET', '/docs/');
  if (status !== 200 || !/swagger/i.test(text)) fail(`/docs/ answered ${status} without Swagger UI`);
}

/**
 * A short real training job: a small CNN on 256 built-in MNIST digits for one epoch, registered
 * under the given name. Waits for it to succeed.
 */
async function trainModel(name) {
  const job = {
    model: {
      input_shape: [1, 28, 28],
      layers: [
        { op: 'conv2d', name: 'conv1', in_channels: 1, out_channels: 4, kernel_size: 5 },
        { op: 'relu' },
        { op: 'max_pool2d', kernel_size: 2 },
        { op: 'flatten' },
        { op: 'linear', name: 'fc', in_features: 4 * 12 * 12, out_features: 10 },
      ],
    },
    dataset: { builtin: 'mnist', train_size: 256, test_size: 64 },
    optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
    epochs: 1,
    batch_size: 32,
    seed: 1,
    register_as: name,
  };
  const created = await request('POST', '/v1/training-jobs', job);
  if (created.status !== 201 && created.status !== 202) {
    fail(`POST /v1/training-jobs answered ${created.status}: ${created.text.slice(0, 500)}`);
  }
  const id = created.json?.id;
  if (typeof id !== 'string') fail(`no job id in ${created.text.slice(0, 500)}`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    const { status, text, json } = await request('GET', `/v1/training-jobs/${encodeURIComponent(id)}`);
    if (status !== 200) fail(`GET /v1/training-jobs/${id} answered ${status}: ${text.slice(0, 500)}`);
    if (json.state === 'succeeded') return;
    if (['failed', 'cancelled'].includes(json.state)) fail(`training job ${id} ${json.state}: ${text.slice(0, 800)}`);
    if (Date.now() > deadline) fail(`training job ${id} still ${json.state} after 180 s`);
    await sleep(500);
  }
}

async function modelListed(name) {
  const { status, text, json } = await request('GET', '/v1/models');
  if (status !== 200) fail(`GET /v1/models answered ${status}: ${text.slice(0, 500)}`);
  const models = Array.isArray(json) ? json : json?.models;
  if (!Array.isArray(models) || !models.some((model) => model.name === name)) {
    fail(`model ${name} is not listed by GET /v1/models: ${text.slice(0, 500)}`);
  }
}

/**
 * A large max_pool2d request meant to be in flight while the container is stopped: once its body
 * has been handed to the socket (so the server has accepted the connection: a body this size
 * cannot fit in the socket buffers), it writes `marker`; then it needs a complete 200 answer.
 */
async function inflightRequest(marker) {
  const [n, c, h, w] = [1, 16, 512, 512];
  const data = Array.from({ length: n * c * h * w }, (_, i) => i % 97);
  const body = JSON.stringify({ input: { shape: [n, c, h, w], data }, kernel_size: 2 });
  const { status, text } = await new Promise((resolve, reject) => {
    const req = httpRequest(new URL('/v1/ops/max_pool2d', base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('finish', () => writeFileSync(marker, 'sent\n'));
    req.end(body);
  }).catch((error) => fail(`in-flight request failed during shutdown: ${error.code ?? error.message}`));
  if (status !== 200) fail(`in-flight request answered ${status}: ${text.slice(0, 300)}`);
  const shape = JSON.parse(text).output?.shape;
  if (!isDeepStrictEqual(shape, [n, c, h / 2, w / 2])) fail(`in-flight request: output shape ${JSON.stringify(shape)}`);
}

switch (check) {
  case 'ready':
    await waitFor('/health/ready', Number(args[0] ?? 60));
    break;
  case 'seed':
    await seedExample();
    break;
  case 'docs':
    await swaggerUi();
    break;
  case 'inflight':
    await inflightRequest(args[0]);
    break;
  case 'train':
    await trainModel(args[0]);
    break;
  case 'model-listed':
    await modelListed(args[0]);
    break;
  default:
    fail(`unknown check '${check}'`);
}
