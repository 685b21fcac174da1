/**
 * The manager's bookkeeping with scripted stand-ins for worker threads: queueing under a
 * concurrency limit, cancellation, suspend on close and resume on start, worker deaths.
 * (Real worker threads training real models are exercised by the HTTP tests.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { JobConflictError, JobManager } from '../../src/jobs/manager.js';
import type { ControlMessage, TrainingTask, WorkerEvent } from '../../src/jobs/protocol.js';
import { JobStore, type JobRecord } from '../../src/jobs/store.js';
import type { StartTrainingThread } from '../../src/jobs/threads.js';
import { ModelRegistry } from '../../src/registry/model-registry.js';
import { encodeSafetensors } from '../../src/storage/safetensors.js';

/** A stand-in thread driven by the test. */
class FakeThread {
  readonly controls: ControlMessage[] = [];
  private resolveExit!: (exit: { code: number }) => void;
  readonly exited = new Promise<{ code: number }>((resolve) => (this.resolveExit = resolve));
  constructor(
    readonly task: TrainingTask,
    private readonly onEvent: (e: WorkerEvent) => void,
  ) {}
  control(message: ControlMessage) {
    this.controls.push(message);
    // Like the real worker: a stop request is honoured at the next batch with a checkpoint.
    this.send({ type: 'stopped', reason: message.type, checkpoint: { epoch: 1, step: 3, global_step: 7, saved_at: 'now' } });
    this.exit(0);
  }
  send(event: WorkerEvent) {
    this.onEvent(event);
  }
  exit(code: number) {
    this.resolveExit({ code });
  }
  async terminate() {
    this.exit(1);
  }
}

let root: string;
let threads: FakeThread[];
const startThread: StartTrainingThread = (task, onEvent) => {
  const t = new FakeThread(task, onEvent);
  threads.push(t);
  return t;
};

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'convpool-manager-'));
  threads = [];
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function makeManager(concurrency = 1) {
  const registry = new ModelRegistry(join(root, 'models'));
  await registry.load();
  const manager = new JobManager({
    store: new JobStore(join(root, 'jobs')),
    registry,
    concurrency,
    startThread,
    taskFor: (job, jobDir) => ({ jobId: job.id, jobDir }) as unknown as TrainingTask,
    register: (job, parameters) =>
      registry.register({ name: 'm', architecture: {}, parameters, provenance: { source: 'training', job_id: job.id } }),
  });
  await manager.start();
  return { manager, registry };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
async function until(cond: () => boolean) {
  while (!cond()) await tick();
}
const states = (job: JobRecord) => job.transitions.map((t) => t.state);

describe('job manager', () => {
  it('runs jobs one at a time, records epochs, registers the result and starts the next', async () => {
    const { manager, registry } = await makeManager(1);
    const a = await manager.submit({ n: 1 });
    const b = await manager.submit({ n: 2 });
    expect(a.state).toBe('running');
    expect(b.state).toBe('queued');
    expect(threads).toHaveLength(1);

    const seen: string[] = [];
    manager.subscribe(a.id, (e) => seen.push(e.event));
    const [thread] = threads;
    thread!.send({ type: 'started', epochs: 2, stepsPerEpoch: 5, totalSteps: 10, resumedFrom: null });
    thread!.send({ type: 'epoch', metrics: { epoch: 1, train_loss: 0.5 }, checkpoint: { epoch: 1, step: 0, global_step: 5, saved_at: 'x' } });
    const weights = join(manager.store.dirOf(a.id), 'final.safetensors');
    writeFileSync(weights, encodeSafetensors([['fc.bias', { shape: [1], dtype: 'float32', data: new Float32Array([3]) }]]));
    thread!.send({ type: 'finished', weightsPath: weights });
    thread!.exit(0);
    await until(() => b.state === 'running');

    expect(states(a)).toEqual(['queued', 'running', 'succeeded']);
    expect(a.metrics).toEqual([{ epoch: 1, train_loss: 0.5 }]);
    expect(a.model).toEqual({ name: 'm', version: 1 });
    expect(registry.get('m', 1)?.provenance.job_id).toBe(a.id);
    expect(seen).toEqual(['progress', 'epoch', 'state']);
    await expect(manager.cancel(a.id)).rejects.toThrow(JobConflictError);
    await manager.close();
  });

  it('cancels a queued job at once and a running one at a batch boundary; a second cancel is harmless', async () => {
    const { manager } = await makeManager(1);
    const a = await manager.submit({});
    const b = await manager.submit({});
    await manager.cancel(b.id);
    expect(states(b)).toEqual(['queued', 'cancelled']);

    await manager.cancel(a.id);
    await manager.cancel(a.id);
    await until(() => a.state === 'cancelled');
    expect(states(a)).toEqual(['queued', 'running', 'cancelling', 'cancelled']);
    expect(threads[0]!.controls).toEqual([{ type: 'cancel' }]);
    expect(a.checkpoint?.global_step).toBe(7);
    expect((await manager.cancel(a.id)).state).toBe('cancelled');
    await manager.close();
  });

  it('suspends running jobs on close and resumes them on the next start', async () => {
    const first = await makeManager(1);
    const job = await first.manager.submit({});
    await first.manager.close();
    expect(threads[0]!.controls).toEqual([{ type: 'suspend' }]);
    expect(job.state).toBe('running');

    const second = await makeManager(1);
    const resumed = second.manager.get(job.id)!;
    expect(states(resumed)).toEqual(['queued', 'running', 'queued', 'running']);
    expect(resumed.transitions[2]!.reason).toMatch(/resuming from the last checkpoint/);
    expect(resumed.checkpoint?.global_step).toBe(7);
    expect(threads).toHaveLength(2);
    await second.manager.close({ abandon: true });
  });

  it('fails a job whose worker dies without a word, and lists jobs newest first by state', async () => {
    const { manager } = await makeManager(2);
    const a = await manager.submit({});
    const b = await manager.submit({});
    threads[0]!.exit(134);
    await until(() => a.state === 'failed');
    expect(a.error).toEqual({ code: 'TRAINING_FAILED', message: 'the training worker exited unexpectedly (code 134)' });
    expect(manager.list({ limit: 10, offset: 0 }).items.map((j) => j.id)).toEqual([b.id, a.id]);
    expect(manager.list({ state: 'failed', limit: 10, offset: 0 })).toEqual({ items: [a], total: 1 });
    expect(manager.list({ limit: 1, offset: 1 }).items.map((j) => j.id)).toEqual([a.id]);
    await manager.close({ abandon: true });
  });
});
