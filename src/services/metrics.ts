/**
 * Prometheus metrics: requests by route and status, their latency, task durations by op, and the
 * pool's queue depth, threads and tasks in flight (read from the pool when scraped).
 */
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface PoolStats {
  queued: number;
  threads: number;
  running: number;
}

export class Metrics {
  readonly registry = new Registry();
  /** Set by the worker pool once it exists. */
  poolStats: () => PoolStats = () => ({ queued: 0, threads: 0, running: 0 });

  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to answering it, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly taskDuration = new Histogram({
    name: 'compute_task_duration_seconds',
    help: 'Time from submitting a task to the worker pool to its end (queueing included), by op, phase and outcome.',
    labelNames: ['fn', 'phase', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor() {
    const stats = () => this.poolStats();
    new Gauge({
      name: 'compute_queue_depth',
      help: 'Tasks waiting for a worker.',
      registers: [this.registry],
      collect() {
        this.set(stats().queued);
      },
    });
    new Gauge({
      name: 'compute_worker_threads',
      help: 'Worker threads alive in the pool.',
      registers: [this.registry],
      collect() {
        this.set(stats().threads);
      },
    });
    new Gauge({
      name: 'compute_tasks_in_flight',
      help: 'Tasks submitted and not yet finished (running or queued).',
      registers: [this.registry],
      collect() {
        this.set(stats().running);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

export default fp(
  async (app) => {
    const metrics = new Metrics();
    app.decorate('metrics', metrics);
    app.addHook('onResponse', async (request, reply) => {
      // Unmatched URLs share one label, so a scan cannot blow up the series count.
      const route = request.routeOptions.url ?? 'unmatched';
      const labels = { method: request.method, route, status: String(reply.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    });
  },
  { name: 'metrics' },
);
