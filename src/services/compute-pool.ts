/**
 * The worker pool every tensor computation runs on (piscina). Bounded: a full queue is refused
 * (503 with Retry-After), a task past its deadline is aborted, which terminates and replaces its
 * worker (504), and a task whose worker dies is answered 500. Tensor buffers are transferred.
 */
import fp from 'fastify-plugin';
import { Piscina } from 'piscina';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { Tensor } from '../kernels/tensor.js';
import type { ComputeResult, ComputeTask, ComputeWorkerData, OpTask } from '../workers/compute.js';
import type { PredictTask } from '../registry/predict-task.js';
import type { Metrics } from './metrics.js';

// Under tsx or vitest this file is TypeScript and so is the worker, which then needs tsx too.
const isTs = import.meta.url.endsWith('.ts');
const workerFile = new URL(isTs ? '../workers/compute.ts' : '../workers/compute.js', import.meta.url);

export class ComputePool {
  private readonly pool: Piscina<ComputeTask, ComputeResult>;
  private running = 0;
  /** Workers started and ready (piscina reports replacements once they have loaded the kernels). */
  private liveWorkers = 0;
  private waitingForWorkers: Array<() => void> = [];
  /** Workers answered; false until then and again once the app starts closing. */
  ready = false;
  draining = false;

  constructor(
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
  ) {
    this.pool = new Piscina<ComputeTask, ComputeResult>({
      filename: workerFile.href,
      minThreads: config.workerThreads,
      maxThreads: config.workerThreads,
      maxQueue: config.workerMaxQueue,
      idleTimeout: Infinity,
      execArgv: isTs ? ['--import', 'tsx'] : [],
      workerData: { testFaults: config.testFaults } satisfies ComputeWorkerData,
    });
    // A worker dying between tasks (nothing to answer) is replaced by piscina; keep a trace of it.
    this.pool.on('error', (error: unknown) => this.log.error({ err: error }, 'compute worker failed'));
    this.pool.on('workerCreate', () => {
      this.liveWorkers++;
      if (this.liveWorkers >= this.config.workerThreads) for (const resolve of this.waitingForWorkers.splice(0)) resolve();
    });
    this.pool.on('workerDestroy', () => {
      this.liveWorkers--;
    });
    metrics.poolStats = () => ({ queued: this.pool.queueSize, threads: this.liveWorkers, running: this.running });
  }

  /** Tasks submitted and not finished: running or waiting for a worker. */
  get inFlight(): number {
    return this.running;
  }

  get isReady(): boolean {
    return this.ready && !this.draining && this.liveWorkers > 0;
  }

  /** Resolves once every thread has a live worker again (after a crash or a stopped task). */
  workersUp(): Promise<void> {
    if (this.liveWorkers >= this.config.workerThreads) return Promise.resolve();
    return new Promise((resolve) => this.waitingForWorkers.push(resolve));
  }

  /** Runs one task on every thread so the workers have loaded the kernels before traffic arrives. */
  async warmUp(): Promise<void> {
    const pings = Array.from({ length: this.config.workerThreads }, () => this.pool.run({ kind: 'ping' }));
    const results = await Promise.allSettled(pings);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw new Error('the compute workers did not start', { cause: failed.reason });
    this.ready = true;
  }

  /**
   * Runs an op in a worker. Resolves to its tensors; rejects with an ApiError. The tensors' buffers
   * are transferred: the caller's arrays are detached afterwards. `log` is the request's logger, so
   * a failure is logged with the request id.
   */
  async run(task: OpTask | PredictTask, clientGone?: AbortSignal, log: FastifyBaseLogger = this.log): Promise<Record<string, Tensor>> {
    // Counted here rather than by piscina's maxQueue, which does not bound tasks that carry a signal.
    if (this.running >= this.config.workerThreads + this.config.workerMaxQueue) {
      this.metrics.taskDuration.observe({ fn: task.op, phase: task.phase, outcome: 'queue_full' }, 0);
      throw this.queueFull();
    }
    const transferList = [...new Set(Object.values(task.tensors).map((t) => t.data.buffer as ArrayBuffer))];
    const deadline = AbortSignal.timeout(this.config.taskTimeoutMs);
    const signal = clientGone ? AbortSignal.any([deadline, clientGone]) : deadline;
    const started = performance.now();
    let outcome = 'ok';
    this.running++;
    try {
      const result = await this.pool.run(task, { transferList, signal });
      if (!result.ok) {
        outcome = 'invalid_argument';
        const error = new ApiError('INVALID_ARGUMENT', result.message);
        error.pythonError = result.pythonType;
        throw error;
      }
      return result.tensors;
    } catch (error) {
      if (error instanceof ApiError) throw error;
      const mapped = this.explain(error, deadline, task, log);
      outcome = mapped.code.toLowerCase();
      throw mapped;
    } finally {
      this.running--;
      this.metrics.taskDuration.observe({ fn: task.op, phase: task.phase, outcome }, (performance.now() - started) / 1000);
    }
  }

  private explain(error: unknown, deadline: AbortSignal, task: OpTask | PredictTask, log: FastifyBaseLogger): ApiError {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof Error && error.name === 'AbortError') {
      if (deadline.aborted) return new ApiError('TASK_TIMEOUT', this.config.taskTimeoutMs);
      if (this.draining) return new ApiError('NOT_READY', 'the service is shutting down');
      return new ApiError('REQUEST_ABORTED');
    }
    if (message === 'Task queue is at limit' || message === 'No task queue available') return this.queueFull();
    if (message.startsWith('worker exited with code')) {
      log.error({ op: task.op, phase: task.phase, err: error }, 'compute worker died during a task');
      return new ApiError('WORKER_CRASHED');
    }
    log.error({ op: task.op, phase: task.phase, err: error }, 'compute task failed');
    return new ApiError('INTERNAL_ERROR');
  }

  private queueFull(): ApiError {
    // A rough wait: the deadline of the tasks ahead bounds how long the queue can stay full.
    const seconds = Math.max(1, Math.ceil(this.config.taskTimeoutMs / 1000));
    return new ApiError('QUEUE_FULL').withHeader('retry-after', String(seconds));
  }

  async close(): Promise<void> {
    this.draining = true;
    await this.pool.close();
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    computePool: ComputePool;
  }
}

export default fp(
  async (app, opts: { config: Config }) => {
    const pool = new ComputePool(opts.config, app.metrics, app.log);
    app.decorate('computePool', pool);
    app.addHook('onReady', async () => {
      await pool.warmUp();
    });
    // Readiness turns false as soon as closing starts; in-flight requests still finish.
    app.addHook('preClose', async () => {
      pool.draining = true;
    });
    app.addHook('onClose', async () => {
      await pool.close();
    });
  },
  { name: 'compute-pool', dependencies: ['metrics'] },
);
