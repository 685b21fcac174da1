/**
 * From a training request to a job: everything that can be checked before a worker starts is
 * checked here, so a bad request is a clear 4xx and never a failed job. The model must plan (shapes
 * chain, every layer valid), end in class logits, fit the data's example shape and classes; the
 * optimizer is checked with torch.optim's own rules; a batch must fit the activation budget.
 *
 * The accepted job keeps a normalised spec (defaults filled in) in its record; tensors given inline
 * (data, initial parameters) and fine-tuning weights go into files in the job's directory, so the
 * job can be resumed after a restart without the original request.
 */
import { join } from 'node:path';
import { ApiError } from '../errors.js';
import type { Tensor } from '../kernels/tensor.js';
import { numel } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';
import { ConfigError } from '../nn/errors.js';
import { MNIST_TEST_SIZE, MNIST_TRAIN_SIZE } from '../nn/datasets.js';
import { planModel, type ModelPlan } from '../nn/model.js';
import { normaliseOptimizerConfig } from '../nn/optimizers.js';
import type { DatasetStore } from '../datasets/store.js';
import type { ModelRegistry, ModelVersionRecord } from '../registry/model-registry.js';
import type { TrainingJobRequest } from '../schemas/training.js';
import { writeFileAtomic } from '../storage/atomic.js';
import { encodeSafetensors } from '../storage/safetensors.js';
import { decodeTensor, TensorFormatError, TensorSizeError, type EncodedTensor } from '../tensor/codec.js';
import { INITIAL_PARAMETERS_FILE, INLINE_DATASET_FILE, type DataSource, type TrainingTask } from './protocol.js';
import type { JobRecord } from './store.js';

export type DatasetSpec =
  | { readonly builtin: 'mnist'; readonly train_size: number; readonly test_size: number }
  | { readonly inline: true; readonly train_size: number; readonly validation_size: number }
  | { readonly id: string; readonly test_id: string | null; readonly test_fraction: number };

/** The accepted request as the job record keeps it. */
export interface TrainingJobSpec {
  readonly model: {
    readonly layers: readonly unknown[];
    readonly input_shape: readonly number[];
    readonly seed: number;
    /** Names of the parameters given explicitly (values in the job's initial.safetensors). */
    readonly initial_parameters: readonly string[];
    readonly fine_tuned_from: { readonly name: string; readonly version: number } | null;
    readonly classes: number;
    readonly parameter_count: number;
  };
  readonly dataset: DatasetSpec;
  readonly optimizer: ReturnType<typeof normaliseOptimizerConfig>;
  readonly loss: { readonly fn: 'cross_entropy'; readonly reduction: 'mean'; readonly label_smoothing: number };
  readonly epochs: number;
  readonly batch_size: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly register_as: string | null;
}

export interface SpecLimits {
  readonly maxTensorElements: number;
  /** Activation values one training (or evaluation) batch may hold. */
  readonly maxBatchElements: number;
}

export interface SpecDeps {
  readonly registry: ModelRegistry;
  readonly datasets: DatasetStore;
  readonly limits: SpecLimits;
}

export interface PreparedJob {
  readonly spec: TrainingJobSpec;
  /** Writes the job's side files into its directory. */
  readonly prepare: (jobDir: string) => Promise<void>;
}

/** Evaluation runs in batches of this size (the trainer's default). */
const EVAL_BATCH = 256;

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

function decode(name: string, encoded: EncodedTensor, defaultDtype: 'float32' | 'int64', limits: SpecLimits): Tensor {
  try {
    return decodeTensor(encoded, { name, defaultDtype, maxElements: limits.maxTensorElements });
  } catch (err) {
    if (err instanceof TensorSizeError) throw new ApiError('TENSOR_TOO_LARGE', err.tensorName, err.elements, err.limit);
    if (err instanceof TensorFormatError) throw new ApiError('INVALID_TENSOR', err.message);
    throw err;
  }
}

function toFloat32(t: Tensor): Tensor {
  if (t.dtype === 'float32') return t;
  const data = allocate('float32', t.data.length);
  data.set(t.data);
  return { shape: t.shape, dtype: 'float32', data };
}

function planOrReject(layers: readonly unknown[], inputShape: readonly number[]): ModelPlan {
  try {
    return planModel({ layers }, inputShape);
  } catch (err) {
    if (err instanceof ConfigError) throw new ApiError('INVALID_MODEL', err.message);
    throw err;
  }
}

function classesOf(plan: ModelPlan): number {
  if (plan.outputShape.length !== 1) {
    throw new ApiError(
      'INVALID_MODEL',
      `the model must end in class logits [classes] per example (e.g. flatten then linear); its output per example is ${fmt(plan.outputShape)}`,
    );
  }
  return plan.outputShape[0]!;
}

/** Largest activation count of a batch: input plus every layer's output, for the bigger of a training and an evaluation batch. */
function checkBatchBudget(plan: ModelPlan, batchSize: number, trainCount: number, testCount: number, limits: SpecLimits): void {
  const perExample = numel(plan.inputShape) + plan.layers.reduce((sum, l) => sum + numel(l.outputShape), 0);
  const examples = Math.max(Math.min(batchSize, trainCount), Math.min(EVAL_BATCH, testCount));
  const total = perExample * examples;
  if (total > limits.maxBatchElements) {
    throw new ApiError(
      'TRAINING_TOO_LARGE',
      `a batch of ${examples} examples holds about ${total} activation values (${perExample} per example), ` +
        `more than TRAINING_MAX_BATCH_ELEMENTS=${limits.maxBatchElements}; use a smaller batch_size`,
    );
  }
}

function checkTargets(name: string, targets: Tensor, count: number, classes: number): void {
  if (targets.shape.length !== 1 || targets.shape[0] !== count) {
    throw new ApiError('INVALID_DATASET', `${name} must hold one class per example: expected shape [${count}], got ${fmt(targets.shape)}`);
  }
  for (let i = 0; i < targets.data.length; i++) {
    const t = targets.data[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      throw new ApiError('INVALID_DATASET', `${name}[${i}] = ${t} is not a class of a model with ${classes} outputs (0..${classes - 1})`);
    }
  }
}

function inlinePart(
  name: string,
  part: { inputs: EncodedTensor; targets: number[] | EncodedTensor },
  inputShape: readonly number[],
  classes: number,
  limits: SpecLimits,
): { inputs: Tensor; targets: Tensor } {
  const inputs = toFloat32(decode(`${name}.inputs`, part.inputs, 'float32', limits));
  if (inputs.dtype === 'int64' || inputs.shape.length !== inputShape.length + 1 || !sameShape(inputs.shape.slice(1), inputShape)) {
    throw new ApiError('INVALID_DATASET', `${name}.inputs must be float [N, ${inputShape.join(', ')}] (the model's input_shape), got ${fmt(inputs.shape)}`);
  }
  if (inputs.shape[0] === 0) throw new ApiError('INVALID_DATASET', `${name}.inputs holds no example`);
  const encodedTargets: EncodedTensor = Array.isArray(part.targets) ? { shape: [part.targets.length], data: part.targets } : part.targets;
  const targets = decode(`${name}.targets`, { ...encodedTargets, dtype: encodedTargets.dtype ?? 'int64' }, 'int64', limits);
  if (targets.dtype !== 'int64') throw new ApiError('INVALID_DATASET', `${name}.targets must be int64 class indices, got ${targets.dtype}`);
  checkTargets(`${name}.targets`, targets, inputs.shape[0]!, classes);
  return { inputs, targets };
}

function initialTensors(
  given: NonNullable<Extract<TrainingJobRequest['model'], { layers: unknown }>['initial_parameters']>,
  plan: ModelPlan,
  limits: SpecLimits,
): [string, Tensor][] {
  const entries: [string, EncodedTensor][] = Array.isArray(given)
    ? given.map(({ name, ...tensor }) => [name, tensor])
    : Object.entries(given);
  const known = new Map([...plan.parameters, ...plan.buffers].map((p) => [p.name, p.shape]));
  const seen = new Set<string>();
  return entries.map(([name, encoded]) => {
    const shape = known.get(name);
    if (!shape) throw new ApiError('INVALID_MODEL', `initial_parameters: unknown parameter '${name}'; the model has ${[...known.keys()].join(', ')}`);
    if (seen.has(name)) throw new ApiError('INVALID_MODEL', `initial_parameters: '${name}' is given twice`);
    seen.add(name);
    const t = toFloat32(decode(`initial_parameters.${name}`, encoded, 'float32', limits));
    if (t.dtype === 'int64' || !sameShape(t.shape, shape)) {
      throw new ApiError('INVALID_MODEL', `initial_parameters: '${name}' must be float ${fmt(shape)}, got ${t.dtype} ${fmt(t.shape)}`);
    }
    return [name, t];
  });
}

export async function prepareTrainingJob(request: TrainingJobRequest, deps: SpecDeps): Promise<PreparedJob> {
  const { limits } = deps;
  const seed = request.seed ?? ('seed' in request.model ? request.model.seed : undefined) ?? 0;
  const files: { dataset?: [string, Tensor][]; initial?: [string, Tensor][] } = {};

  // The model: a layer list, or a registered version to fine-tune.
  let layers: readonly unknown[];
  let inputShape: readonly number[];
  let fineTunedFrom: ModelVersionRecord | undefined;
  let initialNames: string[] = [];
  if ('registered' in request.model) {
    const { registered, version } = request.model;
    fineTunedFrom = deps.registry.get(registered, version);
    if (!fineTunedFrom) {
      throw new ApiError('NOT_FOUND', version === undefined ? `no model named '${registered}'` : `model '${registered}' has no version ${version}`);
    }
    const architecture = fineTunedFrom.architecture as { layers: unknown[]; input_shape: number[] };
    layers = architecture.layers;
    inputShape = architecture.input_shape;
  } else {
    layers = request.model.layers;
    inputShape = request.model.input_shape;
  }
  const plan = planOrReject(layers, inputShape);
  const classes = classesOf(plan);
  if (fineTunedFrom) {
    files.initial = [...(await deps.registry.readParameters(fineTunedFrom))];
    initialNames = files.initial.map(([name]) => name);
  } else if ('initial_parameters' in request.model && request.model.initial_parameters) {
    files.initial = initialTensors(request.model.initial_parameters, plan, limits);
    initialNames = files.initial.map(([name]) => name);
  }

  // The data, and that it fits the model.
  let dataset: DatasetSpec;
  let trainCount: number;
  let testCount: number;
  const ref = request.dataset;
  const checkExampleShape = (what: string, shape: readonly number[]) => {
    if (!sameShape(shape, inputShape)) {
      throw new ApiError('INVALID_DATASET', `${what} has examples of shape ${fmt(shape)}, but the model's input_shape is ${fmt(inputShape)}`);
    }
  };
  const checkClasses = (what: string, needed: number) => {
    if (needed > classes) throw new ApiError('INVALID_DATASET', `${what} has labels up to ${needed - 1}, but the model has only ${classes} outputs`);
  };
  if ('builtin' in ref) {
    checkExampleShape('the built-in mnist dataset', [1, 28, 28]);
    checkClasses('the built-in mnist dataset', 10);
    trainCount = ref.train_size ?? MNIST_TRAIN_SIZE;
    testCount = ref.test_size ?? MNIST_TEST_SIZE;
    dataset = { builtin: 'mnist', train_size: trainCount, test_size: testCount };
  } else if ('inputs' in ref) {
    const train = inlinePart('dataset', ref, inputShape, classes, limits);
    const validation = ref.validation ? inlinePart('dataset.validation', ref.validation, inputShape, classes, limits) : undefined;
    files.dataset = [
      ['train.inputs', train.inputs],
      ['train.targets', train.targets],
      ...(validation ? ([['validation.inputs', validation.inputs], ['validation.targets', validation.targets]] as [string, Tensor][]) : []),
    ];
    trainCount = train.inputs.shape[0]!;
    testCount = validation?.inputs.shape[0] ?? 0;
    dataset = { inline: true, train_size: trainCount, validation_size: testCount };
  } else {
    const train = deps.datasets.get(ref.id);
    if (!train) throw new ApiError('NOT_FOUND', `no dataset with id '${ref.id}'`);
    checkExampleShape(`dataset ${ref.id}`, train.example_shape);
    checkClasses(`dataset ${ref.id}`, train.num_classes);
    const fraction = ref.test_fraction ?? 0;
    if (ref.test_id !== undefined) {
      if (ref.test_fraction !== undefined) throw new ApiError('INVALID_DATASET', 'give either test_id or test_fraction, not both');
      const test = deps.datasets.get(ref.test_id);
      if (!test) throw new ApiError('NOT_FOUND', `no dataset with id '${ref.test_id}'`);
      checkExampleShape(`dataset ${ref.test_id}`, test.example_shape);
      checkClasses(`dataset ${ref.test_id}`, test.num_classes);
      testCount = test.count;
    } else {
      testCount = Math.round(train.count * fraction);
    }
    trainCount = train.count - (ref.test_id === undefined ? testCount : 0);
    if (trainCount < 1) throw new ApiError('INVALID_DATASET', `test_fraction ${fraction} leaves no training example`);
    dataset = { id: ref.id, test_id: ref.test_id ?? null, test_fraction: fraction };
  }

  // How to train.
  let optimizer: TrainingJobSpec['optimizer'];
  try {
    optimizer = normaliseOptimizerConfig(request.optimizer);
  } catch (err) {
    if (err instanceof ConfigError) throw new ApiError('INVALID_TRAINING', `optimizer: ${err.message}`);
    throw err;
  }
  const batchSize = request.batch_size ?? 64;
  checkBatchBudget(plan, batchSize, trainCount, testCount, limits);

  const spec: TrainingJobSpec = {
    model: {
      layers,
      input_shape: inputShape,
      seed: ('seed' in request.model ? request.model.seed : undefined) ?? seed,
      initial_parameters: initialNames,
      fine_tuned_from: fineTunedFrom ? { name: fineTunedFrom.name, version: fineTunedFrom.version } : null,
      classes,
      parameter_count: plan.parameterCount,
    },
    dataset,
    optimizer,
    loss: { fn: 'cross_entropy', reduction: 'mean', label_smoothing: request.loss?.label_smoothing ?? 0 },
    epochs: request.epochs ?? 1,
    batch_size: batchSize,
    shuffle: request.shuffle ?? true,
    seed,
    register_as: request.register_as ?? null,
  };
  return {
    spec,
    prepare: async (jobDir) => {
      if (files.dataset) await writeFileAtomic(join(jobDir, INLINE_DATASET_FILE), encodeSafetensors(files.dataset));
      if (files.initial) await writeFileAtomic(join(jobDir, INITIAL_PARAMETERS_FILE), encodeSafetensors(files.initial));
    },
  };
}

/** The worker's task for a job; throws when something it relies on (an uploaded dataset) is gone. */
export function taskFor(
  job: JobRecord,
  jobDir: string,
  datasets: DatasetStore,
  options: { progressIntervalMs: number; maxDecompressedBytes: number },
): TrainingTask {
  const spec = job.spec as TrainingJobSpec;
  let data: DataSource;
  const d = spec.dataset;
  if ('builtin' in d) data = { kind: 'mnist', trainSize: d.train_size, testSize: d.test_size };
  else if ('inline' in d) data = { kind: 'tensors', path: join(jobDir, INLINE_DATASET_FILE) };
  else {
    const source = (id: string) => {
      const record = datasets.get(id);
      if (!record) throw new Error(`dataset ${id} was deleted before the job could run`);
      return { dir: datasets.pathOf(id), files: record.files };
    };
    data = {
      kind: 'idx',
      train: source(d.id),
      test: d.test_id ? source(d.test_id) : null,
      testFraction: d.test_fraction,
      maxDecompressedBytes: options.maxDecompressedBytes,
    };
  }
  return {
    jobId: job.id,
    jobDir,
    model: { layers: spec.model.layers, inputShape: spec.model.input_shape },
    optimizer: spec.optimizer,
    loss: spec.loss,
    epochs: spec.epochs,
    batchSize: spec.batch_size,
    shuffle: spec.shuffle,
    seed: spec.seed,
    initSeed: spec.model.seed,
    initialParametersPath: spec.model.initial_parameters.length > 0 ? join(jobDir, INITIAL_PARAMETERS_FILE) : null,
    data,
    progressIntervalMs: options.progressIntervalMs,
  };
}

/** Registers a finished job's weights, once: a job resumed after registering finds its version. */
export async function registerJobResult(
  registry: ModelRegistry,
  job: JobRecord,
  parameters: [string, Tensor][],
): Promise<ModelVersionRecord> {
  const spec = job.spec as TrainingJobSpec;
  const name = spec.register_as ?? job.id;
  const existing = registry.versions(name).find((v) => v.provenance.job_id === job.id);
  if (existing) return existing;
  return registry.register({
    name,
    architecture: { layers: spec.model.layers, input_shape: spec.model.input_shape },
    parameters,
    provenance: {
      source: 'training',
      job_id: job.id,
      dataset: spec.dataset,
      metrics: job.metrics,
      training: {
        optimizer: spec.optimizer,
        loss: spec.loss,
        epochs: spec.epochs,
        batch_size: spec.batch_size,
        shuffle: spec.shuffle,
        seed: spec.seed,
        model_seed: spec.model.seed,
      },
      ...(spec.model.fine_tuned_from ? { fine_tuned_from: spec.model.fine_tuned_from } : {}),
    },
  });
}
