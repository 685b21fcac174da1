/**
 * The training-job manager as a service. Jobs start once the app is ready (so a restarted service
 * resumes its unfinished jobs), and on close running jobs checkpoint and stop, to resume on the
 * next start. Job counts by state and job durations go to the metrics registry.
 */
import fp from 'fastify-plugin';
import { Gauge, Histogram } from 'prom-client';
import type { Config } from '../config.js';
import { JOB_STATES } from './state.js';
import { JobManager } from './manager.js';
import { registerJobResult, taskFor } from './spec.js';
import { JobStore } from './store.js';
import { join } from 'node:path';

declare module 'fastify' {
  interface FastifyInstance {
    trainingJobs: JobManager;
  }
}

export interface TrainingJobsOptions {
  readonly config: Config;
  /** Least time between two progress events of a job (default 250 ms). */
  readonly progressIntervalMs?: number;
}

export default fp(
  async (app, opts: TrainingJobsOptions) => {
    const { config } = opts;
    const store = new JobStore(join(config.dataDir, 'jobs'));
    const jobDuration = new Histogram({
      name: 'training_job_duration_seconds',
      help: 'Wall time of training jobs from start to end, by final state.',
      labelNames: ['state'] as const,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers: [app.metrics.registry],
    });
    const manager: JobManager = new JobManager({
      store,
      registry: app.modelRegistry,
      concurrency: config.trainingConcurrency,
      // Half the shutdown grace: room is left for the rest of closing. A job that cannot stop in
      // time is stopped anyway and resumes from its last epoch checkpoint.
      suspendTimeoutMs: config.shutdownGraceMs / 2,
      taskFor: (job, jobDir) =>
        taskFor(job, jobDir, app.datasetStore, {
          progressIntervalMs: opts.progressIntervalMs ?? 250,
          maxDecompressedBytes: app.datasetStore.limits.maxDecompressedBytes,
        }),
      register: (job, parameters) => registerJobResult(app.modelRegistry, job, parameters),
      onFinished: (job) => {
        const started = job.transitions.find((t) => t.state === 'running')?.at;
        const ended = job.transitions.at(-1)?.at;
        if (started && ended) jobDuration.observe({ state: job.state }, (Date.parse(ended) - Date.parse(started)) / 1000);
      },
      log: app.log,
    });
    new Gauge({
      name: 'training_jobs',
      help: 'Training jobs by state.',
      labelNames: ['state'] as const,
      registers: [app.metrics.registry],
      collect() {
        const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
        for (const job of store.all()) counts[job.state]!++;
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
      },
    });
    app.decorate('trainingJobs', manager);
    app.addHook('onReady', async () => {
      await manager.start();
    });
    app.addHook('onClose', async () => {
      await manager.close();
    });
  },
  { name: 'training-jobs', dependencies: ['metrics', 'model-registry', 'dataset-store'] },
);
