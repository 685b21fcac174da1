/**
 * One training job's run, inside its worker thread: load the data, build or restore the trainer,
 * train with progress messages, checkpoint every epoch and when asked to stop, and write the final
 * weights. Blocking file writes are deliberate here: a checkpoint must be on disk before the
 * worker reports it, and this thread has nothing else to do meanwhile.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FloatTensor, IntTensor, Tensor } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';
import { ConfigError } from '../nn/errors.js';
import { Trainer, type Dataset, type EpochReport, type TrainerConfig, type TrainerState } from '../nn/trainer.js';
import { loadMnist, subset } from '../nn/datasets.js';
import { readDatasetFiles } from '../datasets/store.js';
import type { IdxImages, IdxLabels } from '../datasets/idx.js';
import { writeFileAtomicSync } from '../storage/atomic.js';
import { decodeSafetensors, encodeSafetensors } from '../storage/safetensors.js';
import { readCheckpoint, writeCheckpointSync } from './checkpoint.js';
import {
  CHECKPOINT_FILE,
  FINAL_WEIGHTS_FILE,
  type ControlMessage,
  type DataSource,
  type TrainingTask,
  type WorkerEvent,
} from './protocol.js';
import type { CheckpointInfo, EpochMetrics } from './store.js';

export interface WorkerChannel {
  post(event: WorkerEvent): void;
  /** The next control message, if one has arrived (never blocks). */
  poll(): ControlMessage | undefined;
}

interface Data {
  readonly train: Dataset;
  readonly test: Dataset | undefined;
}

function tensorOf(tensors: Map<string, Tensor>, name: string): Tensor {
  const t = tensors.get(name);
  if (!t) throw new ConfigError(`the job's dataset lacks ${name}`);
  return t;
}

/** IDX bytes to what a model sees: float32 pixels in [0, 1] (as torchvision's ToTensor), [N, 1, H, W]. */
export function idxToDataset(images: IdxImages, labels: IdxLabels, start = 0, end = images.count): Dataset {
  const pixelsPerImage = images.rows * images.cols;
  const count = end - start;
  const data = allocate('float32', count * pixelsPerImage);
  const source = images.pixels.subarray(start * pixelsPerImage, end * pixelsPerImage);
  for (let i = 0; i < source.length; i++) data[i] = source[i]! / 255;
  const targets = allocate('int64', count);
  targets.set(labels.labels.subarray(start, end));
  return {
    images: { shape: [count, 1, images.rows, images.cols], dtype: 'float32', data } as FloatTensor,
    labels: { shape: [count], dtype: 'int64', data: targets } as IntTensor,
  };
}

export async function loadData(source: DataSource): Promise<Data> {
  switch (source.kind) {
    case 'mnist': {
      const { train, test } = loadMnist();
      return {
        train: subset(train, source.trainSize),
        test: source.testSize > 0 ? subset(test, source.testSize) : undefined,
      };
    }
    case 'tensors': {
      const { tensors } = decodeSafetensors(await readFile(source.path));
      const pair = (prefix: string): Dataset => ({
        images: tensorOf(tensors, `${prefix}.inputs`) as FloatTensor,
        labels: tensorOf(tensors, `${prefix}.targets`) as IntTensor,
      });
      return { train: pair('train'), test: tensors.has('validation.inputs') ? pair('validation') : undefined };
    }
    case 'idx': {
      const train = await readDatasetFiles(source.train.dir, source.train.files, source.maxDecompressedBytes);
      if (source.test) {
        const test = await readDatasetFiles(source.test.dir, source.test.files, source.maxDecompressedBytes);
        return { train: idxToDataset(train.images, train.labels), test: idxToDataset(test.images, test.labels) };
      }
      const held = Math.round(train.images.count * source.testFraction);
      const cut = train.images.count - held;
      return {
        train: idxToDataset(train.images, train.labels, 0, cut),
        test: held > 0 ? idxToDataset(train.images, train.labels, cut, train.images.count) : undefined,
      };
    }
  }
}

export function epochMetrics(report: EpochReport, seconds?: number): EpochMetrics {
  return {
    epoch: report.epoch,
    train_loss: report.trainLoss,
    train_accuracy: report.trainAccuracy,
    ...(report.test ? { test_loss: report.test.loss, test_accuracy: report.test.accuracy } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
  };
}

function trainerConfig(task: TrainingTask, initialParameters: TrainerConfig['initialParameters']): TrainerConfig {
  return {
    model: { layers: task.model.layers },
    inputShape: task.model.inputShape,
    optimizer: task.optimizer,
    loss: task.loss,
    batchSize: task.batchSize,
    epochs: task.epochs,
    shuffle: task.shuffle,
    seed: task.seed,
    ...(initialParameters ? { initialParameters } : {}),
  };
}

export async function runTraining(task: TrainingTask, channel: WorkerChannel): Promise<void> {
  try {
    await train(task, channel);
  } catch (err) {
    const invalid = err instanceof ConfigError;
    channel.post({
      type: 'failed',
      code: invalid ? 'INVALID_TRAINING' : 'TRAINING_FAILED',
      message: err instanceof Error ? err.message : String(err),
    });
  }
}

async function train(task: TrainingTask, channel: WorkerChannel): Promise<void> {
  const data = await loadData(task.data);
  let initialParameters: TrainerConfig['initialParameters'] = task.initialParametersPath
    ? Object.fromEntries(decodeSafetensors(await readFile(task.initialParametersPath)).tensors)
    : undefined;
  if (task.initSeed !== task.seed) {
    // The trainer draws the initialisation from its one seed; a separate model seed draws it
    // from a throwaway trainer instead, and hands the values over as explicit ones.
    const drawn = new Trainer({ ...trainerConfig(task, undefined), seed: task.initSeed }).network.stateTensors();
    initialParameters = { ...drawn, ...initialParameters };
  }
  const config = trainerConfig(task, initialParameters);
  const checkpointPath = join(task.jobDir, CHECKPOINT_FILE);
  const resumed = existsSync(checkpointPath);
  const trainer = resumed ? Trainer.restore(config, (await readCheckpoint(checkpointPath)) as TrainerState) : new Trainer(config);

  const checkpoint = (): CheckpointInfo => {
    writeCheckpointSync(checkpointPath, trainer.getState());
    return { epoch: trainer.epoch, step: trainer.batchInEpoch, global_step: trainer.step, saved_at: new Date().toISOString() };
  };

  const n = data.train.labels.shape[0]!;
  const stepsPerEpoch = Math.ceil(n / task.batchSize);
  const totalSteps = stepsPerEpoch * task.epochs;
  channel.post({
    type: 'started',
    epochs: task.epochs,
    stepsPerEpoch,
    totalSteps,
    resumedFrom: resumed
      ? { epoch: trainer.epoch, step: trainer.batchInEpoch, global_step: trainer.step, saved_at: new Date().toISOString() }
      : null,
  });

  const startedAt = performance.now();
  const startStep = trainer.step;
  let epochStartedAt = startedAt;
  let lastProgressAt = -Infinity;
  let stopReason: 'cancel' | 'suspend' | undefined;

  const result = await trainer.fit(data.train, {
    ...(data.test ? { test: data.test } : {}),
    onBatch: (report) => {
      const now = performance.now();
      if (now - lastProgressAt < task.progressIntervalMs && report.batch < report.batches) return;
      lastProgressAt = now;
      const seconds = (now - startedAt) / 1000;
      const imagesPerSecond = seconds > 0 ? ((report.step - startStep) * task.batchSize) / seconds : null;
      const remaining = totalSteps - report.step;
      channel.post({
        type: 'progress',
        progress: {
          epoch: report.epoch,
          epochs: task.epochs,
          step: report.batch,
          steps_per_epoch: report.batches,
          global_step: report.step,
          total_steps: totalSteps,
          images_per_second: imagesPerSecond,
          eta_seconds: imagesPerSecond ? (remaining * task.batchSize) / imagesPerSecond : null,
        },
      });
    },
    onEpoch: (report) => {
      const now = performance.now();
      const metrics = epochMetrics(report, (now - epochStartedAt) / 1000);
      epochStartedAt = now;
      channel.post({ type: 'epoch', metrics, checkpoint: checkpoint() });
    },
    shouldStop: () => {
      for (let message = channel.poll(); message; message = channel.poll()) {
        // A cancel outranks a suspend: the user's decision survives a restart.
        if (message.type === 'cancel' || !stopReason) stopReason = message.type;
      }
      return stopReason !== undefined;
    },
  });

  if (result.stopped) {
    channel.post({ type: 'stopped', reason: stopReason!, checkpoint: checkpoint() });
    return;
  }
  const weightsPath = join(task.jobDir, FINAL_WEIGHTS_FILE);
  writeFileAtomicSync(weightsPath, encodeSafetensors(Object.entries(trainer.network.stateTensors()), { format: 'pt' }));
  channel.post({ type: 'finished', weightsPath });
}
