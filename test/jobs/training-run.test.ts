/**
 * A job's run, in this thread: stopped mid-epoch (as on a restart) and resumed from its checkpoint,
 * it ends with exactly the weights and metrics of an uninterrupted run; a crash after an epoch
 * resumes from that epoch's checkpoint just as exactly.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INLINE_DATASET_FILE, type ControlMessage, type TrainingTask, type WorkerEvent } from '../../src/jobs/protocol.js';
import { runTraining } from '../../src/jobs/training-run.js';
import { encodeSafetensors } from '../../src/storage/safetensors.js';
import { Rng } from '../../src/nn/rng.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convpool-run-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeDataset(jobDir: string) {
  const rng = new Rng(7);
  const n = 40;
  const inputs = Float32Array.from({ length: n * 36 }, () => rng.nextFloat32() * 2 - 1);
  const targets = Int32Array.from({ length: n }, (_, i) => i % 3);
  const bytes = encodeSafetensors([
    ['train.inputs', { shape: [n, 1, 6, 6], dtype: 'float32', data: inputs }],
    ['train.targets', { shape: [n], dtype: 'int64', data: targets }],
    ['validation.inputs', { shape: [8, 1, 6, 6], dtype: 'float32', data: inputs.slice(0, 8 * 36) }],
    ['validation.targets', { shape: [8], dtype: 'int64', data: targets.slice(0, 8) }],
  ]);
  await writeFile(join(jobDir, INLINE_DATASET_FILE), bytes);
}

const task = (jobDir: string): TrainingTask => ({
  jobId: 'job_test',
  jobDir,
  model: {
    layers: [
      { op: 'conv2d', name: 'conv', in_channels: 1, out_channels: 3, kernel_size: 3 },
      { op: 'relu' },
      { op: 'max_pool2d', kernel_size: 2 },
      { op: 'flatten' },
      { op: 'linear', name: 'fc', in_features: 12, out_features: 3 },
    ],
    inputShape: [1, 6, 6],
  },
  optimizer: { name: 'Adam', lr: 0.01 },
  loss: { fn: 'cross_entropy', label_smoothing: 0.1 },
  epochs: 3,
  batchSize: 6,
  shuffle: true,
  seed: 11,
  initSeed: 5,
  initialParametersPath: null,
  data: { kind: 'tensors', path: join(jobDir, INLINE_DATASET_FILE) },
  progressIntervalMs: 0,
});

/** Runs the task; `stopAt` sends a control message when that global step has been reported. */
async function run(t: TrainingTask, stopAt?: { step: number; message: ControlMessage }) {
  const events: WorkerEvent[] = [];
  let pending: ControlMessage | undefined;
  await runTraining(t, {
    post: (e) => {
      events.push(e);
      if (stopAt && e.type === 'progress' && e.progress.global_step === stopAt.step) pending = stopAt.message;
    },
    poll: () => {
      const m = pending;
      pending = undefined;
      return m;
    },
  });
  return events;
}

const finalWeights = async (jobDir: string) => readFile(join(jobDir, 'final.safetensors'));
const metricsOf = (events: WorkerEvent[]) => events.flatMap((e) => (e.type === 'epoch' ? [{ ...e.metrics, seconds: 0 }] : []));

describe('training run', () => {
  it('resumes a run suspended mid-epoch and ends exactly as an uninterrupted one', async () => {
    const whole = join(dir, 'whole');
    const split = join(dir, 'split');
    for (const d of [whole, split]) {
      await mkdir(d);
      await writeDataset(d);
    }
    const uninterrupted = await run(task(whole));
    expect(uninterrupted.at(-1)?.type).toBe('finished');
    expect(uninterrupted.filter((e) => e.type === 'epoch')).toHaveLength(3);

    const first = await run(task(split), { step: 10, message: { type: 'suspend' } });
    const stopped = first.at(-1)!;
    expect(stopped).toMatchObject({ type: 'stopped', reason: 'suspend', checkpoint: { epoch: 1, step: 3, global_step: 10 } });

    const second = await run(task(split));
    expect(second[0]).toMatchObject({ type: 'started', resumedFrom: { epoch: 1, step: 3, global_step: 10 } });
    expect(second.at(-1)?.type).toBe('finished');
    expect(await finalWeights(split)).toEqual(await finalWeights(whole));
    expect([...metricsOf(first), ...metricsOf(second)]).toEqual(metricsOf(uninterrupted));
  });

  it('reports a cancel at the next batch boundary with a checkpoint', async () => {
    await writeDataset(dir);
    const events = await run(task(dir), { step: 2, message: { type: 'cancel' } });
    expect(events.at(-1)).toMatchObject({ type: 'stopped', reason: 'cancel', checkpoint: { epoch: 0, step: 2, global_step: 2 } });
    expect(events.some((e) => e.type === 'finished')).toBe(false);
  });

  it('fails with a clear message when the data does not fit the model', async () => {
    await writeDataset(dir);
    const events = await run({ ...task(dir), model: { ...task(dir).model, inputShape: [1, 5, 5] } });
    expect(events.at(-1)).toMatchObject({ type: 'failed', code: 'INVALID_TRAINING' });
  });
});
