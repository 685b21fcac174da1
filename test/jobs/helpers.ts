/** An app with its own data directory, and waiting for training jobs through the API. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../src/config.js';
import { startApp, type Json } from '../service/helpers.js';

export async function tempDataDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'convpool-data-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export function appWithData(dataDir: string, overrides: Partial<Config> = {}): Promise<FastifyInstance> {
  return startApp({ dataDir, trainingConcurrency: 1, ...overrides });
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Polls the job until `until` holds (by default: a final state) and returns it. */
export async function waitForJob(app: FastifyInstance, id: string, until: (job: Json) => boolean = (j) => FINAL.has(j.state)): Promise<Json> {
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/v1/training-jobs/${id}` });
    const job = res.json() as Json;
    if (until(job)) return job;
    if (FINAL.has(job.state)) throw new Error(`job ${id} ended ${job.state} (${JSON.stringify(job.error)}) before the awaited condition`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function submitJob(app: FastifyInstance, body: unknown): Promise<Json> {
  const res = await app.inject({ method: 'POST', url: '/v1/training-jobs', payload: body as Json });
  if (res.statusCode !== 202) throw new Error(`submit answered ${res.statusCode}: ${res.body}`);
  return res.json();
}
