// HTTP checks against a running convpool container, for scripts/container-test.sh.
// Usage: node checks.mjs <check> <base url> [args...]; exits non-zero with a reason on failure.
// Plain Node (global fetch), no dependencies: it runs before or without the project's packages.
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
  const rows = [0, 1, 2, 3, 4, 5, 6, 7].map((value) => [value, value, value, value]);
  const input = [[rows.slice(0, 4), rows.slice(4, 8)]];
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
  default:
    fail(`unknown check '${check}'`);
}
