/**
 * The worker pool under failure: a worker that dies, a task that never ends, a full queue, and
 * shutdown. Failures are simulated through the x-test-fault header, which only an app started
 * with TEST_FAULTS honours.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ops } from '../../src/kernels/registry.js';
import { requestExamples } from '../../src/routes/ops.js';
import { startApp } from './helpers.js';

// Any op with a documented example will do; the tutorial's max_pool2d when it is there.
const url = ['/v1/ops/max_pool2d', ...[...ops.keys()].map((name) => `/v1/ops/${name}`)].find((u) => requestExamples(u));
const payload = url ? Object.values(requestExamples(url)!)[0]!.value : {};

let faulty: FastifyInstance;

const inject = (app: FastifyInstance, fault?: string) =>
  app.inject({ method: 'POST', url: url!, payload, headers: fault ? { 'x-test-fault': fault } : {} });

describe.skipIf(!url)('worker pool failures', () => {
  // One app for the faults: a single worker, room for one waiting task, a short time limit.
  beforeAll(async () => {
    faulty = await startApp({ testFaults: true, workerThreads: 1, workerMaxQueue: 1, taskTimeoutMs: 1000 });
  });
  let closed = false;
  afterAll(async () => {
    if (!closed) await faulty.close();
  });
  const run = (fault?: string) => inject(faulty, fault);

  it('a worker that dies is replaced, and its request answered 500 with a code', async () => {
    const crashed = await run('crash');
    expect(crashed.statusCode).toBe(500);
    expect(crashed.json()).toEqual({
      statusCode: 500,
      code: 'WORKER_CRASHED',
      error: 'Internal Server Error',
      message: 'the worker computing this request died; it has been replaced',
    });
    await faulty.computePool.workersUp();
    expect((await run()).statusCode).toBe(200);
  });

  it('a task over its time limit is stopped and answered 504; the pool keeps serving', async () => {
    const hung = await run('hang');
    expect(hung.statusCode).toBe(504);
    expect(hung.json()).toMatchObject({
      code: 'TASK_TIMEOUT',
      message: 'the computation took longer than TASK_TIMEOUT_MS=1000 and was stopped',
    });
    // The stopped worker was terminated; its replacement loads the kernels before taking work.
    await faulty.computePool.workersUp();
    expect((await run()).statusCode).toBe(200);
  });

  it('a full queue is answered 503 with Retry-After', async () => {
    // One task holds the only worker, one waits; the third finds no room.
    const running = run('hang');
    const waiting = run('hang');
    await vi.waitFor(() => expect(faulty.computePool.inFlight).toBe(2));
    const refused = await run();
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ statusCode: 503, code: 'QUEUE_FULL' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await running).statusCode).toBe(504);
    expect((await waiting).statusCode).toBe(504);
    await faulty.computePool.workersUp();
    expect((await run()).statusCode).toBe(200);
  });

  it('reports queue depth, threads and task durations by op and outcome', async () => {
    const text = (await faulty.inject({ method: 'GET', url: '/metrics' })).body;
    const fn = url!.split('/')[3];
    expect(text).toContain('compute_worker_threads 1');
    expect(text).toContain('compute_queue_depth 0');
    expect(text).toContain('compute_tasks_in_flight 0');
    for (const outcome of ['ok', 'worker_crashed', 'task_timeout', 'queue_full']) {
      expect(text).toMatch(new RegExp(`compute_task_duration_seconds_count\\{fn="${fn}",phase="forward",outcome="${outcome}"\\} \\d+`));
    }
    expect(text).toMatch(new RegExp(`http_requests_total\\{method="POST",route="${url}",status="504"\\} 3`));
  });

  it('closing: readiness turns false, in-flight requests finish, then the pool closes', async () => {
    const inFlight = run('delay=500');
    await vi.waitFor(() => expect(faulty.computePool.inFlight).toBe(1));
    closed = true;
    const closing = faulty.close();
    // (Fastify takes no new requests once closing; the readiness route reads this flag.)
    await vi.waitFor(() => expect(faulty.computePool.isReady).toBe(false));
    expect((await inFlight).statusCode).toBe(200);
    await closing;
  });
});

describe.skipIf(!ops.has('mean'))('tensors cross to the workers', () => {
  it('by transfer: the request arrays are detached once submitted, the result arrays are fresh', async () => {
    const app = await startApp();
    const input = { shape: [2, 3], dtype: 'float32' as const, data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const pending = app.computePool.run({ kind: 'op', op: 'mean', phase: 'forward', params: { dim: 1 }, tensors: { input } });
    expect(input.data.byteLength, 'moved, not copied').toBe(0);
    const { output } = await pending;
    expect([...output!.data]).toEqual([2, 5]);
    expect(output!.data.buffer.byteLength).toBe(output!.data.byteLength);
    await app.close();
  });
});

describe.skipIf(!url)('without TEST_FAULTS', () => {
  it('fault requests are ignored; the app is ready once its workers answer', async () => {
    const app = await startApp();
    expect((await inject(app, 'crash')).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).json()).toEqual({ status: 'ready' });
    expect((await app.inject({ method: 'GET', url: '/health/live' })).json()).toEqual({ status: 'ok' });
    await app.close();
  });
});
