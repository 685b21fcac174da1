/**
 * The training loop: mini-batches in seeded shuffled (or fixed) order, epochs, evaluation,
 * callbacks, a cooperative stop checked between batches, and a complete saveable state.
 *
 * One step is PyTorch's: forward, cross_entropy, backward, optimizer.step(). All randomness
 * (initialisation, epoch order, dropout masks) comes from one seeded generator whose state is part
 * of the saved state, so a run restored from a state continues bit for bit as if never stopped.
 */
import type { FloatDtype, FloatTensor, IntTensor } from '../kernels/tensor.js';
import { numel } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';
import { formatSizes } from '../kernels/errors.js';
import type { Dataset } from './datasets.js';
import { ConfigError } from './errors.js';

export type { Dataset };
import type { ForwardContext } from './layers.js';
import { createLoss, type Loss, type LossConfig } from './loss.js';
import { Network, type TensorData } from './network.js';
import { createOptimizer, type Optimizer, type OptimizerConfig, type OptimizerState } from './optimizers.js';
import { Rng, type RngState } from './rng.js';
import { createSchedule, type Schedule, type SchedulerConfig } from './schedulers.js';

export interface TrainerConfig {
  /** The model description (see model.ts). */
  readonly model: unknown;
  /** Shape of one input sample, e.g. `[1, 28, 28]`. */
  readonly inputShape: readonly number[];
  readonly optimizer: OptimizerConfig;
  /** A per-epoch learning-rate schedule (default: the optimizer's lr throughout). */
  readonly lrScheduler?: SchedulerConfig;
  readonly loss?: LossConfig;
  readonly batchSize?: number;
  readonly epochs?: number;
  /** Reshuffle the training set every epoch (default true); false keeps the dataset order. */
  readonly shuffle?: boolean;
  /** Skip the last batch of an epoch when it is smaller than batchSize (default false). */
  readonly dropLast?: boolean;
  /** Seeds initialisation, epoch order and dropout (default 0). */
  readonly seed?: number;
  readonly dtype?: FloatDtype;
  /** Explicit starting values by parameter name; the others come from the seed. */
  readonly initialParameters?: Readonly<Record<string, TensorData>>;
  /** Batch size used for evaluation (default 256); it does not change the results. */
  readonly evalBatchSize?: number;
}

export interface StepResult {
  /** The loss before the update, as `loss.item()`. */
  readonly loss: number;
  readonly logits: FloatTensor;
}

export interface Evaluation {
  readonly loss: number;
  readonly accuracy: number;
  readonly count: number;
}

export interface BatchReport {
  /** 1-based epoch and batch within it. */
  readonly epoch: number;
  readonly batch: number;
  readonly batches: number;
  /** Optimizer steps taken so far, this one included. */
  readonly step: number;
  readonly loss: number;
  readonly accuracy: number;
}

export interface EpochReport {
  readonly epoch: number;
  readonly step: number;
  /** Mean training loss and accuracy over the epoch's batches, as they were trained. */
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly test?: Evaluation;
}

export interface FitOptions {
  readonly test?: Dataset;
  readonly onBatch?: (report: BatchReport) => void;
  readonly onEpoch?: (report: EpochReport) => void;
  /** Checked between batches: returning true stops the run at that boundary. */
  readonly shouldStop?: () => boolean;
}

export interface FitResult {
  /** True when shouldStop ended the run before the last epoch finished. */
  readonly stopped: boolean;
  /** Epochs completed and optimizer steps taken, over the trainer's whole life. */
  readonly epoch: number;
  readonly step: number;
  readonly history: readonly EpochReport[];
}

interface SavedTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
}

/** Everything a run needs to continue: plain data (typed arrays are copies), safe to structured-clone. */
export interface TrainerState {
  readonly format: 'convpool-trainer-state/1';
  readonly epoch: number;
  readonly batchInEpoch: number;
  readonly step: number;
  /** Size of the training set the current epoch's order was drawn for. */
  readonly epochSize: number | null;
  readonly rng: RngState;
  /** The generator before it drew the current epoch's order, to draw the same order again. */
  readonly epochRng: RngState | null;
  readonly epochTotals: { readonly loss: number; readonly correct: number; readonly seen: number };
  readonly history: readonly EpochReport[];
  /** Parameters and buffers by name. */
  readonly tensors: Readonly<Record<string, SavedTensor>>;
  readonly optimizer: OptimizerState;
}

interface Settings {
  readonly batchSize: number;
  readonly epochs: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly evalBatchSize: number;
}

function readSettings(config: TrainerConfig): Settings {
  const positive = (name: string, value: unknown, fallback: number, min = 1): number => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) < min) throw new ConfigError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const flag = (name: string, value: unknown, fallback: boolean): boolean => {
    const v = value ?? fallback;
    if (typeof v !== 'boolean') throw new ConfigError(`${name} must be true or false`);
    return v;
  };
  return {
    batchSize: positive('batchSize', config.batchSize, 64),
    epochs: positive('epochs', config.epochs, 1, 0),
    shuffle: flag('shuffle', config.shuffle, true),
    dropLast: flag('dropLast', config.dropLast, false),
    evalBatchSize: positive('evalBatchSize', config.evalBatchSize, 256),
  };
}

export class Trainer {
  readonly network: Network;
  readonly optimizer: Optimizer;
  readonly loss: Loss;
  readonly settings: Settings;
  private readonly schedule: Schedule | undefined;

  private rng: Rng;
  private epochRng: RngState | null = null;
  private order: Int32Array | null = null;
  private epochSize: number | null = null;
  private epochTotals = { loss: 0, correct: 0, seen: 0 };
  private readonly history: EpochReport[] = [];
  private running = false;
  /** Epochs completed. */
  epoch = 0;
  /** Batches done in the current epoch. */
  batchInEpoch = 0;
  /** Optimizer steps taken. */
  step = 0;

  constructor(readonly config: TrainerConfig) {
    const seed = config.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new ConfigError(`seed must be an integer, got ${JSON.stringify(seed)}`);
    this.settings = readSettings(config);
    this.loss = createLoss(config.loss);
    // One generator for the whole run, like torch.manual_seed: initialisation draws first.
    this.rng = new Rng(seed);
    this.network = Network.create(config.model, config.inputShape, {
      rng: this.rng,
      dtype: config.dtype,
      initialParameters: config.initialParameters,
    });
    this.optimizer = createOptimizer(config.optimizer, this.network.parameters);
    this.schedule = config.lrScheduler === undefined ? undefined : createSchedule(config.lrScheduler);
  }

  /** A trainer continuing from a saved state; `config` must be the one the state was made with. */
  static restore(config: TrainerConfig, state: TrainerState): Trainer {
    const trainer = new Trainer(config);
    trainer.setState(state);
    return trainer;
  }

  private context(training: boolean): ForwardContext {
    return { training, nextSeed: () => this.rng.nextUint32() };
  }

  /** One optimisation step on a batch: forward, loss, backward, optimizer step. */
  trainStep(images: FloatTensor, labels: IntTensor): StepResult {
    const logits = this.network.forward(images, this.context(true));
    const { loss, grad } = this.loss.valueAndGrad(logits, labels);
    this.network.backward(grad);
    this.optimizer.step();
    this.step++;
    return { loss, logits };
  }

  /** Logits for a batch in evaluation mode (dropout off, batch norm on running statistics). */
  predict(images: FloatTensor): FloatTensor {
    return this.network.forward(this.asNetworkDtype(images), this.context(false));
  }

  /** Mean loss and accuracy over a dataset, in evaluation mode. */
  evaluate(dataset: Dataset): Evaluation {
    const n = this.checkDataset(dataset, 'evaluation');
    const size = this.settings.evalBatchSize;
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < n; start += size) {
      const count = Math.min(size, n - start);
      const { images, labels } = this.slice(dataset, start, count);
      const logits = this.network.forward(images, this.context(false));
      lossSum += this.loss.value(logits, labels) * count;
      correct += countCorrect(logits, labels);
    }
    return { loss: n > 0 ? lossSum / n : NaN, accuracy: n > 0 ? correct / n : NaN, count: n };
  }

  /**
   * Trains from the current position (epoch and batch) to the configured number of epochs.
   * Between batches it yields to the event loop, so a stop request sent by message can arrive,
   * then calls `shouldStop`.
   */
  async fit(train: Dataset, options: FitOptions = {}): Promise<FitResult> {
    if (this.running) throw new Error('fit is already running on this trainer');
    const n = this.checkDataset(train, 'training');
    if (options.test) this.checkDataset(options.test, 'test');
    if (n === 0) throw new ConfigError('the training set is empty');
    if (this.epochSize !== null && this.epochSize !== n) {
      throw new ConfigError(`this state was trained on ${this.epochSize} samples, not ${n}`);
    }
    const { batchSize, epochs, dropLast } = this.settings;
    const batches = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
    if (batches === 0) throw new ConfigError(`dropLast with batchSize ${batchSize} leaves no batch of ${n} samples`);

    this.running = true;
    try {
      while (this.epoch < epochs) {
        if (!this.order) this.beginEpoch(n);
        while (this.batchInEpoch < batches) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (options.shouldStop?.()) return this.result(true);
          const start = this.batchInEpoch * batchSize;
          const rows = this.order!.subarray(start, Math.min(n, start + batchSize));
          const { images, labels } = this.gather(train, rows);
          const { loss, logits } = this.trainStep(images, labels);
          const correct = countCorrect(logits, labels);
          this.epochTotals.loss += loss * rows.length;
          this.epochTotals.correct += correct;
          this.epochTotals.seen += rows.length;
          this.batchInEpoch++;
          options.onBatch?.({
            epoch: this.epoch + 1,
            batch: this.batchInEpoch,
            batches,
            step: this.step,
            loss,
            accuracy: correct / rows.length,
          });
        }
        const report: EpochReport = {
          epoch: this.epoch + 1,
          step: this.step,
          trainLoss: this.epochTotals.loss / this.epochTotals.seen,
          trainAccuracy: this.epochTotals.correct / this.epochTotals.seen,
          ...(options.test ? { test: this.evaluate(options.test) } : {}),
        };
        this.history.push(report);
        this.epoch++;
        this.batchInEpoch = 0;
        this.order = null;
        this.epochRng = null;
        this.epochSize = null;
        this.epochTotals = { loss: 0, correct: 0, seen: 0 };
        options.onEpoch?.(report);
      }
      return this.result(false);
    } finally {
      this.running = false;
    }
  }

  private result(stopped: boolean): FitResult {
    return { stopped, epoch: this.epoch, step: this.step, history: [...this.history] };
  }

  /** The learning rate for the current epoch, from the schedule. */
  private applySchedule(): void {
    if (this.schedule) this.optimizer.lr = this.schedule(this.optimizer.config.lr, this.epoch);
  }

  private beginEpoch(n: number): void {
    this.applySchedule();
    this.epochRng = this.rng.getState();
    this.epochSize = n;
    this.order = this.drawOrder(n);
  }

  private drawOrder(n: number): Int32Array {
    if (this.settings.shuffle) return this.rng.permutation(n);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return order;
  }

  getState(): TrainerState {
    const tensors: Record<string, SavedTensor> = {};
    for (const [name, t] of Object.entries(this.network.stateTensors())) tensors[name] = { shape: t.shape, data: t.data };
    return {
      format: 'convpool-trainer-state/1',
      epoch: this.epoch,
      batchInEpoch: this.batchInEpoch,
      step: this.step,
      epochSize: this.epochSize,
      rng: this.rng.getState(),
      epochRng: this.epochRng,
      epochTotals: { ...this.epochTotals },
      history: this.history.map((r) => ({ ...r })),
      tensors,
      optimizer: this.optimizer.getState(),
    };
  }

  setState(state: TrainerState): void {
    if (state.format !== 'convpool-trainer-state/1') throw new ConfigError(`unknown trainer state format ${JSON.stringify(state.format)}`);
    const names = [...this.network.parameters, ...this.network.buffers].map((p) => p.name);
    const missing = names.filter((name) => !(name in state.tensors));
    if (missing.length > 0) throw new ConfigError(`trainer state lacks ${missing.join(', ')}`);
    this.network.loadTensors(state.tensors);
    this.optimizer.setState(state.optimizer);
    this.epoch = state.epoch;
    this.batchInEpoch = state.batchInEpoch;
    this.step = state.step;
    this.epochTotals = { ...state.epochTotals };
    this.history.length = 0;
    this.history.push(...state.history.map((r) => ({ ...r })));
    this.epochSize = state.epochSize;
    this.epochRng = state.epochRng;
    this.order = null;
    if (state.epochRng && state.epochSize !== null) {
      // Redraw the interrupted epoch's order from the generator state it was drawn with.
      this.rng.setState(state.epochRng);
      this.order = this.drawOrder(state.epochSize);
    }
    this.rng.setState(state.rng);
    this.applySchedule();
  }

  private checkDataset(dataset: Dataset, what: string): number {
    const { images, labels } = dataset;
    const sample = this.network.plan.inputShape;
    const n = images.shape[0] ?? 0;
    if (images.shape.length !== sample.length + 1 || sample.some((d, i) => images.shape[i + 1] !== d)) {
      throw new ConfigError(`${what} images must be [N, ${sample.join(', ')}], got ${formatSizes(images.shape)}`);
    }
    if (labels.shape.length !== 1 || labels.shape[0] !== n) {
      throw new ConfigError(`${what} labels must be [${n}], got ${formatSizes(labels.shape)}`);
    }
    return n;
  }

  /** Copies the given rows into a fresh batch in the network's dtype. */
  private gather(dataset: Dataset, rows: Int32Array): { images: FloatTensor; labels: IntTensor } {
    const sampleSize = numel(this.network.plan.inputShape);
    const images = allocate(this.network.dtype, rows.length * sampleSize);
    const labels = allocate('int64', rows.length);
    const src = dataset.images.data;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      images.set(src.subarray(row * sampleSize, (row + 1) * sampleSize), i * sampleSize);
      labels[i] = dataset.labels.data[row]!;
    }
    return {
      images: { shape: [rows.length, ...this.network.plan.inputShape], dtype: this.network.dtype, data: images } as FloatTensor,
      labels: { shape: [rows.length], dtype: 'int64', data: labels },
    };
  }

  private slice(dataset: Dataset, start: number, count: number): { images: FloatTensor; labels: IntTensor } {
    const sampleSize = numel(this.network.plan.inputShape);
    const images = this.asNetworkDtype({
      shape: [count, ...this.network.plan.inputShape],
      dtype: dataset.images.dtype,
      data: dataset.images.data.subarray(start * sampleSize, (start + count) * sampleSize),
    } as FloatTensor);
    return { images, labels: { shape: [count], dtype: 'int64', data: dataset.labels.data.subarray(start, start + count) } };
  }

  private asNetworkDtype(t: FloatTensor): FloatTensor {
    if (t.dtype === this.network.dtype) return t;
    const data = allocate(this.network.dtype, t.data.length);
    data.set(t.data);
    return { shape: t.shape, dtype: this.network.dtype, data } as FloatTensor;
  }
}

/** Rows whose largest logit (the first, on ties) is at the label. */
export function countCorrect(logits: FloatTensor, labels: IntTensor): number {
  const n = labels.shape[0]!;
  const classes = logits.data.length / Math.max(n, 1);
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestValue = logits.data[i * classes]!;
    for (let c = 1; c < classes; c++) {
      const v = logits.data[i * classes + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    if (best === labels.data[i]) correct++;
  }
  return correct;
}
