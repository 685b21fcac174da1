/**
 * The training-job manager: accepts jobs, runs up to `concurrency` of them at once in their own
 * worker threads (the rest wait `queued`), records every state change, epoch and checkpoint in the
 * job store, registers the trained model, and tells subscribers (the SSE stream) what happens.
 *
 * On start it reloads every job: one that was running when the service stopped goes back to
 * `queued` and resumes from its last checkpoint; one that was being cancelled ends `cancelled`.
 * On close, running jobs are asked to checkpoint at their next batch and stop (a suspend, not a
 * cancel), so a restart loses at most the batch in flight.
 */
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rm } from 'node:fs/promises';
import type { Tensor } from '../kernels/tensor.js';
import type { ModelRegistry, ModelVersionRecord } from '../registry/model-registry.js';
import { decodeSafetensors } from '../storage/safetensors.js';
import type { TrainingTask, WorkerEvent } from './protocol.js';
import { isTerminal, transition, type JobState } from './state.js';
import { JobStore, newJobId, type JobRecord } from './store.js';
import { TrainingPool, type StartTrainingThread, type TrainingThread } from './threads.js';

export interface JobManagerOptions {
  readonly store: JobStore;
  readonly registry: ModelRegistry;
  /** Builds the worker's task from a job (resolving dataset and weight paths). */
  readonly taskFor: (job: JobRecord, jobDir: string) => TrainingTask;
  /** Registers a finished job's weights; returns the new version. */
  readonly register: (job: JobRecord, parameters: [string, Tensor][]) => Promise<ModelVersionRecord>;
  /** Jobs training at once. */
  readonly concurrency: number;
  /** How long close() waits for running jobs to checkpoint before stopping their threads. */
  readonly suspendTimeoutMs?: number;
  /** Replaces the worker pool (tests use scripted stand-ins). */
  readonly startThread?: StartTrainingThread;
  /** Called once a job reaches a final state (for metrics). */
  readonly onFinished?: (job: JobRecord) => void;
  readonly log?: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** What subscribers receive: the event name of the SSE stream and its data. */
export type JobEvent =
  | { readonly event: 'state'; readonly data: JobRecord }
  | { readonly event: 'progress'; readonly data: NonNullable<JobRecord['progress']> }
  | { readonly event: 'epoch'; readonly data: JobRecord['metrics'][number] };

export class JobConflictError extends Error {
  override readonly name = 'JobConflictError';
}

export interface JobListQuery {
  readonly state?: JobState | undefined;
  readonly limit: number;
  readonly offset: number;
}

interface Running {
  readonly thread: TrainingThread;
  /** Events are handled one after another, in the order the worker sent them. */
  chain: Promise<void>;
  /** The worker reported how it ended (finished, failed or stopped). */
  ended: boolean;
}

export class JobManager {
  private readonly events = new EventEmitter();
  private readonly running = new Map<string, Running>();
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly startThread: StartTrainingThread;
  private readonly pool: TrainingPool | undefined;

  constructor(private readonly options: JobManagerOptions) {
    this.events.setMaxListeners(0);
    if (options.startThread) this.startThread = options.startThread;
    else {
      this.pool = new TrainingPool(options.concurrency);
      this.startThread = this.pool.start;
    }
  }

  get store(): JobStore {
    return this.options.store;
  }

  async start(): Promise<void> {
    await this.store.load();
    for (const job of this.store.all()) {
      if (job.state === 'running') {
        this.setState(job, 'queued', job.checkpoint ? 'service restarted; resuming from the last checkpoint' : 'service restarted');
        await this.store.save(job.id);
      } else if (job.state === 'cancelling') {
        this.setState(job, 'cancelled', 'service restarted while cancelling');
        await this.store.save(job.id);
      }
    }
    this.pump();
  }

  /** Creates a job; `prepare` writes the files it needs (inline data, initial weights) into its directory. */
  async submit(spec: unknown, prepare?: (jobDir: string) => Promise<void>): Promise<JobRecord> {
    const id = newJobId();
    const dir = this.store.dirOf(id);
    await mkdir(dir, { recursive: true });
    try {
      await prepare?.(dir);
      const now = new Date().toISOString();
      const job: JobRecord = {
        id,
        state: 'queued',
        created_at: now,
        updated_at: now,
        transitions: [{ state: 'queued', at: now }],
        spec,
        progress: null,
        metrics: [],
        checkpoint: null,
        model: null,
        error: null,
      };
      await this.store.create(job);
      this.pump();
      return job;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get(id: string): JobRecord | undefined {
    return this.store.get(id);
  }

  /** Newest first. */
  list(query: JobListQuery): { items: JobRecord[]; total: number } {
    const all = this.store.all().reverse().filter((j) => !query.state || j.state === query.state);
    return { items: all.slice(query.offset, query.offset + query.limit), total: all.length };
  }

  /** True while some job not yet finished depends on the given predicate (e.g. uses a dataset). */
  hasUnfinished(uses: (job: JobRecord) => boolean): boolean {
    return this.store.all().some((j) => !isTerminal(j.state) && uses(j));
  }

  /**
   * Cooperative cancel: a queued job ends at once; a running one stops at its next batch boundary
   * with a checkpoint. Cancelling a job that is already cancelling or cancelled changes nothing.
   */
  async cancel(id: string): Promise<JobRecord> {
    const job = this.store.get(id);
    if (!job) throw new Error(`unknown job ${id}`);
    switch (job.state) {
      case 'queued':
        this.setState(job, 'cancelled', 'cancelled before it started');
        await this.store.save(id);
        break;
      case 'running':
        // Past its last batch the job is only registering its model: too late to stop it.
        if (this.running.get(id)?.ended) break;
        this.setState(job, 'cancelling', 'cancel requested');
        await this.store.save(id);
        this.running.get(id)?.thread.control({ type: 'cancel' });
        break;
      case 'cancelling':
      case 'cancelled':
        break;
      case 'succeeded':
      case 'failed':
        throw new JobConflictError(`job ${id} already ${job.state}; only a queued or running job can be cancelled`);
    }
    return job;
  }

  /** Calls `listener` for every event of the job until the returned function is called. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  /**
   * Stops accepting work and suspends running jobs with a checkpoint (or, with `abandon`, stops
   * their threads at once, as a crash would). Their records stay `running`, so the next start
   * resumes them.
   */
  close(options: { abandon?: boolean } = {}): Promise<void> {
    this.closed ??= this.shutDown(options);
    return this.closed;
  }

  private async shutDown(options: { abandon?: boolean }): Promise<void> {
    this.closing = true;
    const running = [...this.running.values()];
    if (!options.abandon) {
      for (const r of running) r.thread.control({ type: 'suspend' });
      const timeout = this.options.suspendTimeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(running.map((r) => r.thread.exited.then(() => r.chain))),
        new Promise((resolve) => (timer = setTimeout(resolve, timeout))),
      ]);
      clearTimeout(timer);
    }
    await Promise.all(running.map((r) => r.thread.terminate()));
    await Promise.allSettled(running.map((r) => r.chain));
    await this.pool?.close();
    await this.store.drain();
  }

  private setState(job: JobRecord, state: JobState, reason?: string): void {
    const t = transition(job.state, state, reason);
    job.state = state;
    job.transitions.push(t);
    job.updated_at = t.at;
    if (isTerminal(state)) this.options.onFinished?.(job);
    this.emit(job.id, { event: 'state', data: job });
  }

  private emit(id: string, event: JobEvent): void {
    this.events.emit(id, event);
  }

  /** Starts queued jobs, oldest first, while there is room. */
  private pump(): void {
    if (this.closing) return;
    for (const job of this.store.all()) {
      if (this.running.size >= this.options.concurrency) return;
      if (job.state === 'queued' && !this.running.has(job.id)) this.launch(job);
    }
  }

  private launch(job: JobRecord): void {
    let task: TrainingTask;
    try {
      task = this.options.taskFor(job, this.store.dirOf(job.id));
    } catch (err) {
      job.error = { code: 'INVALID_TRAINING', message: (err as Error).message };
      this.setState(job, 'failed', 'could not start');
      void this.store.save(job.id);
      return;
    }
    this.setState(job, 'running');
    void this.store.save(job.id);
    let chain = Promise.resolve();
    const onEvent = (event: WorkerEvent) => {
      chain = chain.then(() => this.handle(job, entry, event)).catch((err) => this.fail(job, 'INTERNAL_ERROR', (err as Error).message));
      entry.chain = chain;
    };
    const entry: Running = { thread: this.startThread(task, onEvent), chain, ended: false };
    this.running.set(job.id, entry);
    void entry.thread.exited.then(async ({ code, error }) => {
      await entry.chain;
      this.running.delete(job.id);
      if (!entry.ended && !this.closing && !isTerminal(job.state)) {
        await this.fail(job, 'TRAINING_FAILED', `the training worker exited unexpectedly (code ${code})${error ? `: ${error}` : ''}`);
      }
      this.pump();
    });
  }

  private async fail(job: JobRecord, code: string, message: string): Promise<void> {
    if (isTerminal(job.state)) return;
    job.error = { code, message };
    this.setState(job, 'failed', message);
    await this.store.save(job.id);
    this.options.log?.error({ jobId: job.id, code }, message);
  }

  private async handle(job: JobRecord, entry: Running, event: WorkerEvent): Promise<void> {
    switch (event.type) {
      case 'started':
        job.progress = {
          epoch: Math.min((event.resumedFrom?.epoch ?? 0) + 1, event.epochs),
          epochs: event.epochs,
          step: event.resumedFrom?.step ?? 0,
          steps_per_epoch: event.stepsPerEpoch,
          global_step: event.resumedFrom?.global_step ?? 0,
          total_steps: event.totalSteps,
          images_per_second: null,
          eta_seconds: null,
        };
        this.emit(job.id, { event: 'progress', data: job.progress });
        return;
      case 'progress':
        job.progress = event.progress;
        this.emit(job.id, { event: 'progress', data: event.progress });
        return;
      case 'epoch':
        // A resumed job may repeat an epoch that was recorded before its checkpoint was lost.
        job.metrics = [...job.metrics.filter((m) => m.epoch < event.metrics.epoch), event.metrics];
        job.checkpoint = event.checkpoint;
        job.updated_at = new Date().toISOString();
        await this.store.save(job.id);
        this.emit(job.id, { event: 'epoch', data: event.metrics });
        return;
      case 'stopped':
        entry.ended = true;
        job.checkpoint = event.checkpoint;
        if (event.reason === 'cancel' && job.state === 'cancelling') this.setState(job, 'cancelled', 'stopped at a batch boundary');
        await this.store.save(job.id);
        return;
      case 'finished': {
        entry.ended = true;
        if (job.state === 'cancelling') {
          // The cancel arrived after the last batch: honour it, and register nothing.
          this.setState(job, 'cancelled', 'cancelled after the last batch');
          await this.store.save(job.id);
          return;
        }
        const { tensors } = decodeSafetensors(await readFile(event.weightsPath));
        const record = await this.options.register(job, [...tensors]);
        job.model = { name: record.name, version: record.version };
        if (job.progress) job.progress = { ...job.progress, eta_seconds: 0 };
        this.setState(job, 'succeeded');
        await this.store.save(job.id);
        this.options.log?.info({ jobId: job.id, model: job.model }, 'training job succeeded');
        return;
      }
      case 'failed':
        entry.ended = true;
        await this.fail(job, event.code, event.message);
        return;
    }
  }
}
