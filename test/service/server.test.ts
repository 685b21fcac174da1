/**
 * Through real sockets: the app listening on a port and driven with undici, and the server process
 * itself, started as `npm run dev` would, shutting down gracefully on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../../src/kernels/registry.js';
import { requestExamples } from '../../src/routes/ops.js';
import { loadGolden } from '../helpers/golden.js';
import { startApp, type Json } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const seed = loadGolden('seed_example.json').cases[0]!;
const url = ['/v1/ops/max_pool2d', ...[...ops.keys()].map((name) => `/v1/ops/${name}`)].find((u) => requestExamples(u));
const payload = url ? Object.values(requestExamples(url)!)[0]!.value : {};

describe('a listening app, driven with undici', () => {
  let app: FastifyInstance;
  let origin: string;
  const agent = new Agent({ connections: 4 });

  beforeAll(async () => {
    app = await startApp({ bodyLimitBytes: 100_000, workerThreads: 2 });
    origin = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await agent.close();
    await app.close();
  });

  const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    request(`${origin}${path}`, { method: 'POST', body, headers, dispatcher: agent });

  it.skipIf(!ops.has('max_pool2d'))('answers the tutorial example', async () => {
    const res = await post('/v1/ops/max_pool2d', JSON.stringify({ input: seed.input, kernel_size: 2 }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(await res.body.json()).toEqual({ output: { shape: [1, 2, 2, 2], dtype: 'float32', data: [1, 1, 3, 3, 5, 5, 7, 7] } });
  });

  it.skipIf(!url)('serves concurrent requests on kept-alive connections', async () => {
    const replies = await Promise.all(
      Array.from({ length: 16 }, async () => {
        const res = await post(url!, JSON.stringify(payload));
        return { status: res.statusCode, body: await res.body.text() };
      }),
    );
    expect(replies.map((r) => r.status)).toEqual(new Array(16).fill(200));
    expect(new Set(replies.map((r) => r.body)).size).toBe(1);
  });

  it('refuses a body over the limit with 413, and malformed JSON with 400', async () => {
    const big = await post('/v1/ops/mean', JSON.stringify({ input: { data: new Array(30_000).fill(0.125) } }));
    expect(big.statusCode).toBe(413);
    expect(((await big.body.json()) as Json).code).toBe('BODY_TOO_LARGE');
    const bad = await post('/v1/ops/mean', '{"input": {"data": [1, 2,');
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as Json).code).toBe('MALFORMED_JSON');
  });

  it('serves health, metrics, the document and Swagger UI', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics', '/openapi.json', '/docs']) {
      const res = await request(`${origin}${path}`, { dispatcher: agent, maxRedirections: 0 } as never);
      await res.body.text();
      expect(res.statusCode, path).toBeLessThan(400);
    }
  });
});

/** Starts src/server.ts in a child process and resolves once it listens. */
async function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', WORKER_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Json[] = [];
  const waiters: Array<{ test: (line: Json) => boolean; resolve: (line: Json) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Json;
    try {
      line = JSON.parse(text) as Json;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of waiters.splice(0)) (w.test(line) ? w.resolve(line) : waiters.push(w));
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const logLine = (test: (line: Json) => boolean) =>
    new Promise<Json>((resolve, reject) => {
      const found = lines.find(test);
      if (found) return resolve(found);
      waiters.push({ test, resolve });
      void exited.then((code) => reject(new Error(`server exited (${code}) first: ${stderr}`)));
    });
  const listening = await logLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'));
  const origin = /(http:\/\/[\d.]+:\d+)/.exec(listening.msg as string)![1]!;
  return { child: child as ChildProcess, origin, lines, logLine, exited };
}

describe.skipIf(!url)('the server process', () => {
  it('on SIGTERM stops accepting, finishes the request in flight, closes the pool and exits 0', async () => {
    const server = await startServer({ TEST_FAULTS: '1' });
    // A request that takes a while in its worker, so that it is in flight when the signal arrives.
    const inFlight = request(`${server.origin}${url}`, {
      method: 'POST',
      body: JSON.stringify(payload),
      headers: { 'content-type': 'application/json', 'x-test-fault': 'delay=1500', 'x-request-id': 'in-flight-1' },
    });
    await server.logLine((l) => l.reqId === 'in-flight-1' && l.msg === 'incoming request');
    server.child.kill('SIGTERM');
    await server.logLine((l) => l.msg === 'closing: finishing in-flight requests');

    // New requests are turned away: refused, reset or closed at the socket, or 503.
    const fresh = new Agent();
    const late = await request(`${server.origin}/health/ready`, { dispatcher: fresh }).then(
      (res) => res.statusCode,
      (error: Error & { code?: string }) => error.code,
    );
    expect(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 503]).toContain(late);
    await fresh.close();

    const reply = await inFlight;
    expect(reply.statusCode).toBe(200);
    expect(reply.headers['x-request-id']).toBe('in-flight-1');
    await reply.body.json();
    expect(await server.exited).toBe(0);

    const messages = server.lines.map((l) => l.msg);
    expect(messages).toContain('closing: finishing in-flight requests');
    // Every request-scoped line carries the request id.
    const requestLines = server.lines.filter((l) => l.req || l.res);
    expect(requestLines.length).toBeGreaterThan(0);
    for (const line of requestLines) expect(line.reqId).toBeTruthy();
  });

  it('refuses to start on a bad configuration, naming the variable', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: root,
      env: { ...process.env, PORT: 'eighty', WORKER_THREADS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/invalid configuration: .*PORT.*WORKER_THREADS/);
  });
});
