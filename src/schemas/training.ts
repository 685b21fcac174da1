/**
 * Training jobs: the request that starts one, the job as the API shows it, and the list.
 * The schemas check JSON types and bounds; the model description, optimizer arguments and the fit
 * between model and data are checked by the training engine when the job is submitted, with
 * messages that name the layer or argument at fault.
 */
import { z } from 'zod';
import { JOB_STATES } from '../jobs/state.js';
import { tensorSchema } from './tensor.js';

/** Largest batch a request may ask for; the activation-memory limit usually binds first. */
export const MAX_BATCH_SIZE = 65_536;
export const MAX_EPOCHS = 1000;
export const MAX_LAYERS = 64;

export const modelNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'a model name is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit' })
  .meta({ description: 'A registered model name.', examples: ['mnist-cnn'] });

const seedSchema = z.int().min(0).max(2 ** 32 - 1);

const has = (input: unknown, key: string) => typeof input === 'object' && input !== null && key in input;

/**
 * A union whose error explains the branch the input meant (picked from its keys) instead of
 * zod's bare "Invalid input": `layers: expected array, received object`.
 */
function explainedUnion<const T extends readonly [z.ZodType, z.ZodType, ...z.ZodType[]]>(
  options: T,
  pick: (input: unknown) => number | string,
) {
  return z.union(options, {
    error: (issue) => {
      if (issue.code !== 'invalid_union') return undefined;
      const chosen = pick(issue.input);
      if (typeof chosen === 'string') return chosen;
      const first = issue.errors[chosen]?.[0];
      return first ? `${first.path.join('.') || '(value)'}: ${first.message}` : undefined;
    },
  });
}

export const layerSchema = z
  .looseObject({
    op: z.string().min(1).max(64).meta({ description: 'conv2d, linear, relu, flatten, dropout, batch_norm, or any pooling function.' }),
    name: z.string().min(1).max(64).optional().meta({ description: 'Prefix of the parameter names (`<name>.weight`).' }),
  })
  .meta({
    id: 'Layer',
    description:
      'One layer: `op` plus its arguments under PyTorch\'s names, e.g. `{"op": "conv2d", "name": "conv1", ' +
      '"in_channels": 1, "out_channels": 8, "kernel_size": 5}` or `{"op": "max_pool2d", "kernel_size": 2}`.',
  });

export const initialParametersSchema = z
  .union([
    z.record(z.string().min(1).max(128), tensorSchema),
    z.array(tensorSchema.extend({ name: z.string().min(1).max(128) })).max(1024),
  ])
  .meta({
    description:
      'Starting values by parameter name: an object `{"conv1.weight": Tensor, ...}`, or a list of ' +
      '`{"name", "shape", "data"}` (the form of train.json). Parameters not given come from the seed.',
  });

export const layersModelSchema = z
  .strictObject({
    layers: z.array(layerSchema).min(1).max(MAX_LAYERS),
    input_shape: z
      .array(z.int().min(1).max(4096))
      .min(1)
      .max(4)
      .meta({ description: 'Shape of one example without the batch dimension, e.g. [1, 28, 28].' }),
    seed: seedSchema.optional().meta({ description: "Seeds the parameters' default initialisation (default: the job's seed)." }),
    initial_parameters: initialParametersSchema.optional(),
  })
  .meta({ id: 'ModelDescription', description: 'A model as a list of layers, with the shape of one example.' });

export const registeredModelRefSchema = z
  .strictObject({
    registered: modelNameSchema,
    version: z.int().min(1).optional().meta({ description: 'Default: the latest version.' }),
  })
  .meta({ id: 'RegisteredModelRef', description: 'Fine-tune a registered model version: its architecture and weights are the start.' });

const targetsSchema = z
  .union([z.array(z.int().min(0).max(2 ** 31 - 1)), tensorSchema])
  .meta({ description: 'Class index per example: a list of integers, or an int64 tensor of shape [N].' });

const inlinePartSchema = z.strictObject({ inputs: tensorSchema, targets: targetsSchema });

export const datasetRefSchema = explainedUnion(
  [
    z
      .strictObject({
        builtin: z.literal('mnist'),
        train_size: z.int().min(1).max(8000).optional().meta({ default: 8000 }),
        test_size: z.int().min(0).max(2000).optional().meta({ default: 2000 }),
      })
      .meta({ title: 'Built-in', description: '10,000 real MNIST digits split 8,000 / 2,000; sizes take the first examples of each part.' }),
    z
      .strictObject({
        inputs: tensorSchema,
        targets: targetsSchema,
        validation: inlinePartSchema.optional().meta({ description: 'Evaluated after every epoch (test loss and accuracy).' }),
      })
      .meta({ title: 'Inline', description: 'A batch in the request: inputs [N, ...input_shape] and their targets.' }),
    z
      .strictObject({
        id: z.string().meta({ description: 'An uploaded dataset (POST /v1/datasets).' }),
        test_id: z.string().optional().meta({ description: 'An uploaded dataset to evaluate on after every epoch.' }),
        test_fraction: z
          .number()
          .min(0)
          .max(0.5)
          .optional()
          .meta({ default: 0, description: 'Without test_id: the share of examples, taken from the end, held out for evaluation.' }),
      })
      .meta({ title: 'Uploaded', description: 'Uploaded IDX images and labels; pixels are scaled to [0, 1].' }),
  ],
  (input) =>
    has(input, 'builtin') ? 0 : has(input, 'inputs') ? 1 : has(input, 'id') ? 2 : 'expected {"builtin": "mnist"}, {"inputs", "targets"} or {"id"}',
).meta({ id: 'DatasetRef' });

const nonNegative = (fallback: number) => z.number().min(0).optional().meta({ default: fallback });

export const optimizerSchema = explainedUnion(
  [
    z
      .strictObject({
        name: z.enum(['sgd', 'SGD']),
        lr: z.number().positive().meta({ description: 'Learning rate (required, as in torch.optim.SGD).' }),
        momentum: nonNegative(0),
        dampening: z.number().optional().meta({ default: 0 }),
        weight_decay: nonNegative(0),
        nesterov: z.boolean().optional().meta({ default: false }),
      })
      .meta({ title: 'SGD' }),
    z
      .strictObject({
        name: z.enum(['adam', 'Adam', 'adamw', 'AdamW']),
        lr: z.number().positive().optional().meta({ default: 0.001 }),
        betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).optional().meta({ default: [0.9, 0.999] }),
        eps: nonNegative(1e-8),
        weight_decay: z.number().min(0).optional().meta({ description: 'Default 0 for Adam, 0.01 for AdamW.' }),
        amsgrad: z.boolean().optional().meta({ default: false }),
      })
      .meta({ title: 'Adam / AdamW' }),
  ],
  (input) => {
    const name = has(input, 'name') ? String((input as { name: unknown }).name).toLowerCase() : undefined;
    return name === 'sgd' ? 0 : name === 'adam' || name === 'adamw' ? 1 : 'name: expected sgd, adam or adamw';
  },
).meta({ id: 'Optimizer', description: 'torch.optim arguments and defaults.' });

export const lossSchema = z
  .strictObject({
    fn: z.literal('cross_entropy').optional().meta({ default: 'cross_entropy' }),
    reduction: z.literal('mean').optional().meta({ default: 'mean' }),
    label_smoothing: z.number().min(0).max(1).optional().meta({ default: 0 }),
  })
  .meta({ id: 'Loss' });

export const trainingJobRequestSchema = z
  .strictObject({
    model: explainedUnion([layersModelSchema, registeredModelRefSchema], (input) => (has(input, 'registered') ? 1 : 0)),
    dataset: datasetRefSchema,
    optimizer: optimizerSchema,
    loss: lossSchema.optional(),
    epochs: z.int().min(1).max(MAX_EPOCHS).optional().meta({ default: 1 }),
    batch_size: z.int().min(1).max(MAX_BATCH_SIZE).optional().meta({ default: 64 }),
    shuffle: z.boolean().optional().meta({ default: true, description: 'Reshuffle the training examples every epoch (seeded).' }),
    seed: seedSchema.optional().meta({ description: 'Seeds shuffling, dropout and (unless model.seed is given) initialisation. Default 0.' }),
    register_as: modelNameSchema.optional().meta({ description: 'Register the trained model under this name (default: the job id).' }),
  })
  .meta({
    id: 'TrainingJobRequest',
    examples: [
      {
        model: {
          input_shape: [1, 28, 28],
          layers: [
            { op: 'conv2d', name: 'conv1', in_channels: 1, out_channels: 8, kernel_size: 5 },
            { op: 'relu' },
            { op: 'max_pool2d', kernel_size: 2 },
            { op: 'conv2d', name: 'conv2', in_channels: 8, out_channels: 16, kernel_size: 5 },
            { op: 'relu' },
            { op: 'max_pool2d', kernel_size: 2 },
            { op: 'flatten' },
            { op: 'linear', name: 'fc', in_features: 256, out_features: 10 },
          ],
        },
        dataset: { builtin: 'mnist' },
        optimizer: { name: 'adam', lr: 0.003 },
        epochs: 2,
        batch_size: 32,
        register_as: 'mnist-cnn',
      },
    ],
  });

export type TrainingJobRequest = z.infer<typeof trainingJobRequestSchema>;

const metricsSchema = z
  .object({
    epoch: z.int(),
    train_loss: z.number(),
    train_accuracy: z.number().optional(),
    test_loss: z.number().optional(),
    test_accuracy: z.number().optional(),
    seconds: z.number().optional(),
  })
  .meta({ id: 'EpochMetrics' });

const progressSchema = z
  .object({
    epoch: z.int(),
    epochs: z.int(),
    step: z.int().meta({ description: 'Batches done in the current epoch.' }),
    steps_per_epoch: z.int(),
    global_step: z.int(),
    total_steps: z.int(),
    images_per_second: z.number().nullable(),
    eta_seconds: z.number().nullable(),
  })
  .meta({ id: 'JobProgress' });

export const jobStateSchema = z.enum(JOB_STATES);

export const trainingJobSchema = z
  .object({
    id: z.string(),
    state: jobStateSchema,
    created_at: z.string(),
    updated_at: z.string(),
    transitions: z.array(z.object({ state: jobStateSchema, at: z.string(), reason: z.string().optional() })),
    spec: z.unknown().meta({ description: 'The request as accepted, with defaults filled in (inline tensors are kept on disk).' }),
    progress: progressSchema.nullable(),
    metrics: z.array(metricsSchema).meta({ description: 'One entry per finished epoch.' }),
    checkpoint: z
      .object({ epoch: z.int(), step: z.int(), global_step: z.int(), saved_at: z.string() })
      .nullable()
      .meta({ description: 'The last checkpoint: epochs done and batches into the next.' }),
    model: z.object({ name: z.string(), version: z.int() }).nullable().meta({ description: 'The registered result.' }),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .meta({ id: 'TrainingJob' });

export const trainingJobListSchema = z
  .object({ items: z.array(trainingJobSchema), total: z.int(), limit: z.int(), offset: z.int() })
  .meta({ id: 'TrainingJobList' });

export const jobListQuerySchema = z.strictObject({
  state: jobStateSchema.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

export const jobIdParamsSchema = z.strictObject({ id: z.string().max(64) });
