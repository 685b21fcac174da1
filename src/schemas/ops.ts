/**
 * One request schema per op (and one per backward), named for the OpenAPI document
 * (`MaxPool2dRequest`, `MaxPool2dBackwardRequest`, ...).
 *
 * Keyword arguments keep `torch.nn.functional`'s names; a missing key means PyTorch's default,
 * which the kernels apply (the schemas only document it). The schemas check JSON types and leave
 * every value check (sizes, signs, tuple lengths) to the kernels, which answer with PyTorch's own
 * messages.
 */
import { z } from 'zod';
import { encodingSchema, tensorSchema } from './tensor.js';

export type TensorKind = 'float' | 'int64';
export type OpTag = 'pooling' | 'reduction' | 'layers';

export interface TensorField {
  name: string;
  kind: TensorKind;
  optional?: boolean;
  description: string;
}

export interface OpExample {
  summary: string;
  value: Record<string, unknown>;
}

export interface OpDefinition {
  name: string;
  tag: OpTag;
  tensors: TensorField[];
  params: z.ZodRawShape;
  /** The first one is what Swagger UI fills in. */
  examples: Record<string, OpExample>;
}

export interface OpSchemas {
  definition: OpDefinition;
  /** The keyword arguments alone (listed by GET /v1/ops). */
  kwargs: z.ZodObject;
  forward: z.ZodObject;
  backward: z.ZodObject;
}

// --- keyword argument types -------------------------------------------------------------------

const int = () => z.int();
const intOrTuple = () => z.union([z.int(), z.array(z.int())], { error: 'expected an int or a list of ints' });
const intOrTupleOrNone = () =>
  z.union([z.int(), z.array(z.int()), z.null()], { error: 'expected an int, a list of ints or null' });

const kernelSize = (dims: number) =>
  intOrTuple().meta({ description: `Window size: an int, or a tuple of ${dims} ints.` });
const stride = (dims: number) =>
  intOrTupleOrNone()
    .optional()
    .meta({ default: null, description: `Step between windows: an int or a tuple of ${dims}; null means kernel_size.` });
const padding = (dims: number) =>
  intOrTuple().optional().meta({ default: 0, description: `Implicit padding on both sides: an int or a tuple of ${dims}.` });
const dilation = (dims: number) =>
  intOrTuple().optional().meta({ default: 1, description: `Spacing between window taps: an int or a tuple of ${dims}.` });
const flag = (fallback: boolean, description: string) => z.boolean().optional().meta({ default: fallback, description });
const ceilMode = () => flag(false, 'Use ceil instead of floor for the output size (a window must start inside the input or the left padding).');
const returnIndices = () => flag(false, 'Also return `indices`: per-plane flat positions of the maxima (int64).');
const outputSize = (dims: number) =>
  (dims === 1
    ? intOrTuple()
    : z.union([z.int(), z.array(z.union([z.int(), z.null()]))], { error: 'expected an int or a list of ints and nulls' })
  ).meta({
    description:
      dims === 1
        ? 'Target output length.'
        : `Target output size: an int or a tuple of ${dims}; a null entry keeps that input size.`,
  });
const number = (fallback: number | undefined, description: string) =>
  fallback === undefined ? z.number().meta({ description }) : z.number().optional().meta({ default: fallback, description });

// --- tensors and examples ---------------------------------------------------------------------

const input = (description = 'Input of shape (N, C, *spatial) or (C, *spatial).'): TensorField => ({
  name: 'input',
  kind: 'float',
  description,
});
const weight = (description: string, optional = false): TensorField => ({ name: 'weight', kind: 'float', optional, description });
const bias = (): TensorField => ({ name: 'bias', kind: 'float', optional: true, description: 'Bias of shape (out_channels); none by default.' });

/** The tutorial's image: two 4x4 channels whose rows hold 0..3 and 4..7. */
const seedImage = {
  shape: [1, 2, 4, 4],
  data: [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7],
};
const seedImageNested = {
  data: [
    [
      [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]],
      [[4, 4, 4, 4], [5, 5, 5, 5], [6, 6, 6, 6], [7, 7, 7, 7]],
    ],
  ],
};
const signal1d = { shape: [1, 2, 4], data: [1, 3, 2, 5, 4, 0, 7, 6] };
const volume3d = { shape: [1, 1, 2, 2, 2], data: [0, 1, 2, 3, 4, 5, 6, 7] };

const example = (summary: string, value: Record<string, unknown>): OpExample => ({ summary, value });

// --- the ops ----------------------------------------------------------------------------------

function maxPool(dims: 1 | 2 | 3, examples: Record<string, OpExample>): OpDefinition {
  return {
    name: `max_pool${dims}d`,
    tag: 'pooling',
    tensors: [input()],
    params: {
      kernel_size: kernelSize(dims),
      stride: stride(dims),
      padding: padding(dims),
      dilation: dilation(dims),
      ceil_mode: ceilMode(),
      return_indices: returnIndices(),
    },
    examples,
  };
}

function avgPool(dims: 1 | 2 | 3, examples: Record<string, OpExample>): OpDefinition {
  return {
    name: `avg_pool${dims}d`,
    tag: 'pooling',
    tensors: [input()],
    params: {
      kernel_size: kernelSize(dims),
      stride: stride(dims),
      padding: padding(dims),
      ceil_mode: ceilMode(),
      count_include_pad: flag(true, 'Count the zero padding in the divisor (up to the padded edge).'),
      ...(dims === 1
        ? {}
        : {
            divisor_override: z
              .union([z.int(), z.null()], { error: 'expected an int or null' })
              .optional()
              .meta({ default: null, description: 'Divide every window by this instead of its size.' }),
          }),
    },
    examples,
  };
}

function adaptivePool(kind: 'avg' | 'max', dims: 1 | 2 | 3, examples: Record<string, OpExample>): OpDefinition {
  return {
    name: `adaptive_${kind}_pool${dims}d`,
    tag: 'pooling',
    tensors: [input()],
    params: { output_size: outputSize(dims), ...(kind === 'max' ? { return_indices: returnIndices() } : {}) },
    examples,
  };
}

function lpPool(dims: 1 | 2, examples: Record<string, OpExample>): OpDefinition {
  return {
    name: `lp_pool${dims}d`,
    tag: 'pooling',
    tensors: [input()],
    params: {
      norm_type: number(undefined, 'The power p of the p-norm (int or float).'),
      kernel_size: dims === 1 ? intOrTuple().meta({ description: 'Window size (an int).' }) : kernelSize(2),
      stride: stride(dims),
      ceil_mode: ceilMode(),
    },
    examples,
  };
}

function maxUnpool(dims: 1 | 2 | 3, examples: Record<string, OpExample>): OpDefinition {
  return {
    name: `max_unpool${dims}d`,
    tag: 'pooling',
    tensors: [
      input('The pooled values (the first result of max_pool).'),
      { name: 'indices', kind: 'int64', description: 'The indices max_pool returned (int64 unless dtype says otherwise).' },
    ],
    params: {
      kernel_size: kernelSize(dims),
      stride: stride(dims),
      padding: padding(dims),
      output_size: z
        .union([z.array(z.int()), z.null()], { error: 'expected a list of ints or null' })
        .optional()
        .meta({ default: null, description: `Output size: ${dims} ints (or ${dims + 2} with N and C); null means (in - 1) * stride + kernel_size - 2 * padding.` }),
    },
    examples,
  };
}

function conv(dims: 1 | 2): OpDefinition {
  const c = dims === 1
    ? { input: { shape: [1, 1, 4], data: [1, 2, 3, 4] }, weight: { shape: [1, 1, 2], data: [1, -1] } }
    : { input: { shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, weight: { shape: [1, 1, 2, 2], data: [1, 0, 0, 1] } };
  return {
    name: `conv${dims}d`,
    tag: 'layers',
    tensors: [
      input(`Input of shape (N, C_in, ${dims === 1 ? 'L' : 'H, W'}) or unbatched.`),
      weight(`Filters of shape (C_out, C_in / groups, ${dims === 1 ? 'k' : 'kH, kW'}).`),
      bias(),
    ],
    params: {
      stride: intOrTuple().optional().meta({ default: 1, description: 'Step of the filter.' }),
      padding: z
        .union([z.int(), z.array(z.int()), z.string()], { error: 'expected an int, a list of ints, "same" or "valid"' })
        .optional()
        .meta({ default: 0, description: 'Zero padding: an int, a tuple, "same" (stride 1 only) or "valid".' }),
      dilation: dilation(dims),
      groups: int().optional().meta({ default: 1, description: 'Number of blocked connections from input to output channels.' }),
    },
    examples: { basic: example(`A ${dims}-D convolution with one filter`, { ...c, bias: { shape: [1], data: [0.5] } }) },
  };
}

export const opDefinitions: readonly OpDefinition[] = [
  maxPool(1, { basic: example('Pairs of a length-4 signal', { input: signal1d, kernel_size: 2 }) }),
  maxPool(2, {
    seed: example('The tutorial: max_pool2d(img, kernel_size=2)', { input: seedImage, kernel_size: 2 }),
    stride1: example('max_pool2d(img, kernel_size=2, stride=1)', { input: seedImage, kernel_size: 2, stride: 1 }),
    indices: example('With the indices of the maxima', { input: seedImage, kernel_size: 2, return_indices: true }),
    nested: example('The same image as nested arrays', { input: seedImageNested, kernel_size: 2 }),
    base64: example('Reply with base64 data', { input: seedImage, kernel_size: 2, encoding: 'base64' }),
  }),
  maxPool(3, { basic: example('One 2x2x2 window', { input: volume3d, kernel_size: 2 }) }),
  avgPool(1, { basic: example('Means of pairs', { input: signal1d, kernel_size: 2 }) }),
  avgPool(2, {
    padded: example('avg_pool2d(img, kernel_size=2, stride=1, padding=1)', { input: seedImage, kernel_size: 2, stride: 1, padding: 1 }),
    whole: example('avg_pool2d(img, kernel_size=4)', { input: seedImage, kernel_size: 4 }),
  }),
  avgPool(3, { basic: example('One 2x2x2 window', { input: volume3d, kernel_size: 2 }) }),
  adaptivePool('avg', 1, { basic: example('Two outputs per channel', { input: signal1d, output_size: 2 }) }),
  adaptivePool('avg', 2, {
    global: example('Global average pooling', { input: seedImage, output_size: 1 }),
    grid: example('A 2x2 grid', { input: seedImage, output_size: [2, 2] }),
  }),
  adaptivePool('avg', 3, { global: example('Global average pooling', { input: volume3d, output_size: 1 }) }),
  adaptivePool('max', 1, { basic: example('Two outputs per channel', { input: signal1d, output_size: 2 }) }),
  adaptivePool('max', 2, { grid: example('A 2x2 grid with indices', { input: seedImage, output_size: [2, 2], return_indices: true }) }),
  adaptivePool('max', 3, { global: example('Global max pooling', { input: volume3d, output_size: 1 }) }),
  lpPool(1, { basic: example('2-norm of pairs', { input: signal1d, norm_type: 2, kernel_size: 2 }) }),
  lpPool(2, { basic: example('2-norm of 2x2 windows', { input: seedImage, norm_type: 2, kernel_size: 2 }) }),
  maxUnpool(1, {
    basic: example('Put two maxima back', { input: { shape: [1, 1, 2], data: [3, 5] }, indices: { shape: [1, 1, 2], data: [1, 3] }, kernel_size: 2 }),
  }),
  maxUnpool(2, {
    seed: example('Undo max_pool2d(img, kernel_size=2, return_indices=True)', {
      input: { shape: [1, 2, 2, 2], data: [1, 1, 3, 3, 5, 5, 7, 7] },
      indices: { shape: [1, 2, 2, 2], data: [4, 6, 12, 14, 4, 6, 12, 14] },
      kernel_size: 2,
    }),
  }),
  maxUnpool(3, {
    basic: example('One value back into a 2x2x2 block', { input: { shape: [1, 1, 1, 1, 1], data: [7] }, indices: { shape: [1, 1, 1, 1, 1], data: [7] }, kernel_size: 2 }),
  }),
  {
    name: 'mean',
    tag: 'reduction',
    tensors: [input('Any tensor.')],
    params: {
      dim: z
        .union([z.int(), z.array(z.int()), z.null()], { error: 'expected an int, a list of ints or null' })
        .optional()
        .meta({ default: null, description: 'Dimension(s) to reduce; null reduces all.' }),
      keepdim: flag(false, 'Keep the reduced dimensions with size 1.'),
    },
    examples: {
      m1: example('The tutorial: m1 = img.mean(3)', { input: seedImage, dim: 3 }),
      m1mean2: example('The tutorial: m1.mean(2), global average pooling in two steps', {
        input: { shape: [1, 2, 4], data: [0, 1, 2, 3, 4, 5, 6, 7] },
        dim: 2,
      }),
    },
  },
  conv(1),
  conv(2),
  {
    name: 'conv_transpose2d',
    tag: 'layers',
    tensors: [
      input('Input of shape (N, C_in, H, W) or unbatched.'),
      weight('Filters of shape (C_in, C_out / groups, kH, kW).'),
      bias(),
    ],
    params: {
      stride: intOrTuple().optional().meta({ default: 1, description: 'Step of the filter.' }),
      padding: intOrTuple().optional().meta({ default: 0, description: 'dilation * (k - 1) - padding zeros are added to both sides.' }),
      output_padding: intOrTuple().optional().meta({ default: 0, description: 'Extra size added to one side of the output.' }),
      groups: int().optional().meta({ default: 1, description: 'Number of blocked connections.' }),
      dilation: dilation(2),
    },
    examples: {
      basic: example('Spread a 2x2 input with a 2x2 filter of ones', {
        input: { shape: [1, 1, 2, 2], data: [1, 2, 3, 4] },
        weight: { shape: [1, 1, 2, 2], data: [1, 1, 1, 1] },
      }),
    },
  },
  {
    name: 'linear',
    tag: 'layers',
    tensors: [
      input('Input of shape (*, in_features).'),
      weight('Weight of shape (out_features, in_features).'),
      { name: 'bias', kind: 'float', optional: true, description: 'Bias of shape (out_features); none by default.' },
    ],
    params: {},
    examples: {
      basic: example('y = x W^T + b', {
        input: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
        weight: { shape: [2, 3], data: [1, 0, 0, 0, 1, 0] },
        bias: { shape: [2], data: [0.5, -0.5] },
      }),
    },
  },
  {
    name: 'relu',
    tag: 'layers',
    tensors: [input('Any tensor.')],
    params: {},
    examples: { basic: example('max(x, 0)', { input: { shape: [4], data: [-1, 0, 1, 'NaN'] } }) },
  },
  ...(['softmax', 'log_softmax'] as const).map(
    (name): OpDefinition => ({
      name,
      tag: 'layers',
      tensors: [input('Any tensor.')],
      params: { dim: int().meta({ description: 'The dimension the probabilities are taken over.' }) },
      examples: { basic: example(`${name} over classes`, { input: { shape: [2, 3], data: [1, 2, 3, 1, 1, 1] }, dim: 1 }) },
    }),
  ),
  {
    name: 'cross_entropy',
    tag: 'layers',
    tensors: [
      input('Logits of shape (N, C) or (C).'),
      { name: 'target', kind: 'int64', description: 'Class indices of shape (N) or () (int64 unless dtype says otherwise).' },
      { name: 'weight', kind: 'float', optional: true, description: 'Per-class weights of shape (C); none by default.' },
    ],
    params: {
      reduction: z.enum(['mean', 'sum', 'none']).optional().meta({ default: 'mean', description: 'How the per-sample losses are combined.' }),
      label_smoothing: number(0, 'Amount of smoothing in [0, 1].'),
    },
    examples: {
      basic: example('Two samples, three classes', {
        input: { shape: [2, 3], data: [2, 0.5, -1, 0, 0, 3] },
        target: { shape: [2], data: [0, 2] },
      }),
    },
  },
  {
    name: 'batch_norm',
    tag: 'layers',
    tensors: [
      input('Input of shape (N, C, *).'),
      { name: 'running_mean', kind: 'float', optional: true, description: 'Running mean of shape (C); updated when training.' },
      { name: 'running_var', kind: 'float', optional: true, description: 'Running variance of shape (C); updated when training.' },
      weight('Scale of shape (C); none by default.', true),
      { name: 'bias', kind: 'float', optional: true, description: 'Shift of shape (C); none by default.' },
    ],
    params: {
      training: flag(false, 'Normalise with the batch statistics (and update the running ones).'),
      momentum: number(0.1, 'Weight of the batch statistics in the running ones.'),
      eps: number(1e-5, 'Added to the variance for stability.'),
    },
    examples: {
      training: example('Normalise a batch of four', {
        input: { shape: [4, 2], data: [1, 10, 2, 20, 3, 30, 4, 40] },
        running_mean: { shape: [2], data: [0, 0] },
        running_var: { shape: [2], data: [1, 1] },
        training: true,
      }),
    },
  },
  {
    name: 'flatten',
    tag: 'layers',
    tensors: [input('Any tensor.')],
    params: {
      start_dim: int().optional().meta({ default: 0, description: 'First dimension to flatten.' }),
      end_dim: int().optional().meta({ default: -1, description: 'Last dimension to flatten.' }),
    },
    examples: { basic: example('Flatten all but the batch dimension', { input: seedImage, start_dim: 1 }) },
  },
  {
    name: 'dropout',
    tag: 'layers',
    tensors: [input('Any tensor.')],
    params: {
      p: number(0.5, 'Probability of zeroing an element.'),
      training: flag(true, 'Apply dropout; when false the input is returned unchanged.'),
      seed: z
        .union([z.int(), z.null()], { error: 'expected an int or null' })
        .optional()
        .meta({ default: null, description: 'Seed of the random mask, for reproducible results.' }),
    },
    examples: {
      basic: example('Drop half of eight ones, reproducibly', { input: { shape: [1, 8], data: [1, 1, 1, 1, 1, 1, 1, 1] }, p: 0.5, seed: 0 }),
    },
  },
];

// --- building the schemas ---------------------------------------------------------------------

export function pascalCase(name: string): string {
  return name
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

const goldenNote =
  ' Keyword arguments may also be nested under `params`, as in the golden files; a golden case can be posted as it is.';

function tensorFields(fields: readonly TensorField[]): z.ZodRawShape {
  return Object.fromEntries(
    fields.map((f) => {
      const schema = tensorSchema.meta({ description: f.description });
      return [f.name, f.optional ? schema.optional() : schema];
    }),
  );
}

function buildSchemas(definition: OpDefinition): OpSchemas {
  const { name, tensors, params } = definition;
  const id = pascalCase(name);
  const kwargs = z.strictObject(params);
  const forward = z.strictObject({ ...tensorFields(tensors), ...params, encoding: encodingSchema }).meta({
    id: `${id}Request`,
    description: `Arguments of \`${name}\`, named as in torch.nn.functional.${goldenNote}`,
  });
  const backward = z
    .strictObject({
      ...tensorFields(tensors),
      grad_output: tensorSchema.meta({ description: 'Gradient with respect to the output, of the output\'s shape.' }),
      ...params,
      encoding: encodingSchema,
    })
    .meta({
      id: `${id}BackwardRequest`,
      description: `Arguments of \`${name}\` plus \`grad_output\`.${goldenNote}`,
    });
  return { definition, kwargs, forward, backward };
}

/** Request schemas by op name. */
export const opSchemas: ReadonlyMap<string, OpSchemas> = new Map(opDefinitions.map((d) => [d.name, buildSchemas(d)]));

/**
 * Schemas for an op the registry holds but this module does not describe yet: the tensors come from
 * the op itself and the keyword arguments go through unchecked. Not registered with an id, so
 * such an op stands out in the OpenAPI document.
 */
export function fallbackSchemas(name: string, tensors: readonly TensorField[]): OpSchemas {
  const definition: OpDefinition = { name, tag: 'layers', tensors: [...tensors], params: {}, examples: {} };
  const open = (shape: z.ZodRawShape) => z.object(shape).catchall(z.unknown());
  return {
    definition,
    kwargs: open({}),
    forward: open({ ...tensorFields(tensors), encoding: encodingSchema }),
    backward: open({ ...tensorFields(tensors), grad_output: tensorSchema, encoding: encodingSchema }),
  };
}
