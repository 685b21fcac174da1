/**
 * What the job manager and a training worker say to each other over the worker's MessagePort.
 * The worker reads everything large (datasets, weights, checkpoints) from disk itself and writes
 * its checkpoints and final weights there, so only small messages cross threads.
 */
import type { OptimizerConfig } from '../nn/optimizers.js';
import type { DatasetFile, DatasetPart } from '../datasets/store.js';
import type { CheckpointInfo, EpochMetrics, JobProgress } from './store.js';

export type DataSource =
  | { readonly kind: 'mnist'; readonly trainSize: number; readonly testSize: number }
  /** Inline tensors saved with the job: `train.inputs`, `train.targets`, optional `validation.*`. */
  | { readonly kind: 'tensors'; readonly path: string }
  | {
      readonly kind: 'idx';
      readonly train: IdxSource;
      readonly test: IdxSource | null;
      /** When there is no separate test set: the share of the examples, taken from the end, held out. */
      readonly testFraction: number;
      readonly maxDecompressedBytes: number;
    };

export interface IdxSource {
  readonly dir: string;
  readonly files: Readonly<Record<DatasetPart, DatasetFile>>;
}

export interface TrainingTask {
  readonly jobId: string;
  readonly jobDir: string;
  readonly model: { readonly layers: readonly unknown[]; readonly inputShape: readonly number[] };
  readonly optimizer: OptimizerConfig;
  readonly loss: { readonly fn: 'cross_entropy'; readonly label_smoothing: number };
  readonly epochs: number;
  readonly batchSize: number;
  readonly shuffle: boolean;
  /** Seeds shuffling and dropout, and the initialisation when it equals initSeed. */
  readonly seed: number;
  /** Seeds the default initialisation of parameters not given explicitly. */
  readonly initSeed: number;
  /** A safetensors file with starting values by parameter name (given, or a model fine-tuned). */
  readonly initialParametersPath: string | null;
  readonly data: DataSource;
  /** Least time between two progress messages. */
  readonly progressIntervalMs: number;
}

/** Manager → worker. `suspend` stops at the next batch with a checkpoint, for a restart. */
export type ControlMessage = { readonly type: 'cancel' } | { readonly type: 'suspend' };

/** Worker → manager. */
export type WorkerEvent =
  | {
      readonly type: 'started';
      readonly epochs: number;
      readonly stepsPerEpoch: number;
      readonly totalSteps: number;
      readonly resumedFrom: CheckpointInfo | null;
    }
  | { readonly type: 'progress'; readonly progress: JobProgress }
  /** An epoch ended; its checkpoint is on disk. */
  | { readonly type: 'epoch'; readonly metrics: EpochMetrics; readonly checkpoint: CheckpointInfo }
  /** Stopped on request at a batch boundary; its checkpoint is on disk. */
  | { readonly type: 'stopped'; readonly reason: 'cancel' | 'suspend'; readonly checkpoint: CheckpointInfo }
  /** Every epoch done; the final weights are on disk at `weightsPath`. */
  | { readonly type: 'finished'; readonly weightsPath: string }
  | { readonly type: 'failed'; readonly code: 'TRAINING_FAILED' | 'INVALID_TRAINING'; readonly message: string };

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const FINAL_WEIGHTS_FILE = 'final.safetensors';
export const INITIAL_PARAMETERS_FILE = 'initial.safetensors';
export const INLINE_DATASET_FILE = 'dataset.safetensors';
