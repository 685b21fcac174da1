/**
 * Model descriptions: a JSON list of layers, validated and shape-checked before anything is
 * allocated.
 *
 * A layer is `{"op": "conv2d", "name": "conv1", "in_channels": 3, ...}`. Layers with parameters
 * take nn.Module constructor arguments (conv1d/conv2d, linear, batch_norm); relu, flatten and
 * dropout take their module arguments; every pooling function takes its torch.nn.functional
 * keyword arguments. Parameters are named `<layer name>.weight` / `.bias` and listed in
 * state_dict order; a layer without a name is named by its index, as nn.Sequential does.
 *
 * Shapes are checked by the kernels' own `plan` (so a mismatch reports PyTorch's message), on a
 * batch of one; the error names the layer.
 */
import { getOp } from '../kernels/registry.js';
import { KernelArgumentError } from '../kernels/errors.js';
import { numel } from '../kernels/tensor.js';
import type { InitRule } from './init.js';
import { ModelError } from './errors.js';

export { ModelError };

export interface LayerSpec {
  readonly op: string;
  readonly name?: string;
  readonly [arg: string]: unknown;
}

export interface ModelSpec {
  readonly layers: readonly LayerSpec[];
}

export interface ParameterInfo {
  /** `<layer name>.weight`, `<layer name>.bias`, or a buffer such as `<layer name>.running_mean`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: InitRule;
}

export type LayerKind = 'conv' | 'linear' | 'batch_norm' | 'relu' | 'flatten' | 'dropout' | 'pool' | 'unpool';

export interface LayerPlan {
  readonly index: number;
  readonly name: string;
  readonly op: string;
  readonly kind: LayerKind;
  /** The keyword arguments the layer's kernel is called with (torch.nn.functional names). */
  readonly kernelParams: Readonly<Record<string, unknown>>;
  /** Shapes of one sample, without the batch dimension. */
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  readonly parameters: readonly ParameterInfo[];
  /** Running statistics: saved with the model, not trained by the optimizer. */
  readonly buffers: readonly ParameterInfo[];
  /** max_unpool: the index of the max_pool layer whose indices it scatters by. */
  readonly indicesFrom?: number;
}

export interface ModelPlan {
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  readonly layers: readonly LayerPlan[];
  /** Every trainable parameter, in state_dict order. */
  readonly parameters: readonly ParameterInfo[];
  readonly buffers: readonly ParameterInfo[];
  readonly parameterCount: number;
}

/** Keyword arguments each pooling function accepts (stride etc. are optional). */
const POOLING_ARGS: Readonly<Record<string, readonly string[]>> = {
  max_pool1d: ['kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices'],
  max_pool2d: ['kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices'],
  max_pool3d: ['kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices'],
  avg_pool1d: ['kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad'],
  avg_pool2d: ['kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override'],
  avg_pool3d: ['kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override'],
  lp_pool1d: ['norm_type', 'kernel_size', 'stride', 'ceil_mode'],
  lp_pool2d: ['norm_type', 'kernel_size', 'stride', 'ceil_mode'],
  adaptive_avg_pool1d: ['output_size'],
  adaptive_avg_pool2d: ['output_size'],
  adaptive_avg_pool3d: ['output_size'],
  adaptive_max_pool1d: ['output_size', 'return_indices'],
  adaptive_max_pool2d: ['output_size', 'return_indices'],
  adaptive_max_pool3d: ['output_size', 'return_indices'],
  max_unpool1d: ['kernel_size', 'stride', 'padding', 'output_size'],
  max_unpool2d: ['kernel_size', 'stride', 'padding', 'output_size'],
  max_unpool3d: ['kernel_size', 'stride', 'padding', 'output_size'],
};

/** Every pooling function of torch.nn.functional that 1.13 has; max_unpool also names its max_pool. */
export const POOLING_OPS: readonly string[] = Object.keys(POOLING_ARGS);

const REQUIRED_POOLING_ARGS: Readonly<Record<string, readonly string[]>> = {
  lp_pool1d: ['norm_type', 'kernel_size'],
  lp_pool2d: ['norm_type', 'kernel_size'],
};

function requiredPoolingArgs(op: string): readonly string[] {
  return REQUIRED_POOLING_ARGS[op] ?? (op.startsWith('adaptive_') ? ['output_size'] : ['kernel_size']);
}

/** Whether the kernel returns indices that its backward needs (max pools). */
export function isMaxPool(op: string): boolean {
  return op.startsWith('max_pool') || op.startsWith('adaptive_max_pool');
}

const LAYER_ARGS: Readonly<Record<string, readonly string[]>> = {
  conv1d: ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups', 'bias'],
  conv2d: ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups', 'bias'],
  linear: ['in_features', 'out_features', 'bias'],
  batch_norm: ['num_features', 'eps', 'momentum', 'affine', 'track_running_stats'],
  relu: [],
  flatten: ['start_dim', 'end_dim'],
  dropout: ['p'],
  ...POOLING_ARGS,
  // The layer whose indices max_unpool takes, as F.max_unpool2d(x, indices) does.
  max_unpool1d: [...POOLING_ARGS.max_unpool1d!, 'indices_from'],
  max_unpool2d: [...POOLING_ARGS.max_unpool2d!, 'indices_from'],
  max_unpool3d: [...POOLING_ARGS.max_unpool3d!, 'indices_from'],
};

export const LAYER_OPS: readonly string[] = Object.keys(LAYER_ARGS);

/** Keys every layer may carry besides its arguments. */
const COMMON_KEYS = new Set(['op', 'name', 'note']);

/** Validates a description against an input shape (one sample, no batch dim) and infers every shape. */
export function planModel(spec: unknown, inputShape: readonly number[]): ModelPlan {
  if (!isRecord(spec) || !Array.isArray(spec.layers)) throw new ModelError('a model needs a "layers" array');
  if (spec.layers.length === 0) throw new ModelError('a model needs at least one layer');
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ModelError(`input shape must be a non-empty list of positive integers, got ${JSON.stringify(inputShape)}`);
  }

  const layers: LayerPlan[] = [];
  const names = new Set<string>();
  let shape: readonly number[] = [...inputShape];
  (spec.layers as unknown[]).forEach((raw, index) => {
    const label = layerLabel(raw, index);
    const fail = (message: string): never => {
      throw new ModelError(`layer ${label}: ${message}`, index, isRecord(raw) && typeof raw.name === 'string' ? raw.name : undefined);
    };
    try {
      const layer = planLayer(raw, index, shape, names, layers, fail);
      if (layer.outputShape.some((d) => d < 1)) {
        fail(`output shape [${layer.outputShape.join(', ')}] (one sample) is empty`);
      }
      layers.push(layer);
      shape = layer.outputShape;
    } catch (err) {
      if (err instanceof ModelError) throw err;
      if (err instanceof KernelArgumentError || err instanceof RangeError || err instanceof TypeError) fail(err.message);
      throw err;
    }
  });

  const parameters = layers.flatMap((l) => l.parameters);
  const buffers = layers.flatMap((l) => l.buffers);
  return {
    inputShape: [...inputShape],
    outputShape: shape,
    layers,
    parameters,
    buffers,
    parameterCount: parameters.reduce((sum, p) => sum + numel(p.shape), 0),
  };
}

/** `2 (max_pool2d)` or `0 'conv1' (conv2d)`: how errors point at a layer. */
function layerLabel(raw: unknown, index: number): string {
  if (!isRecord(raw)) return String(index);
  const name = typeof raw.name === 'string' ? ` '${raw.name}'` : '';
  const op = typeof raw.op === 'string' ? ` (${raw.op})` : '';
  return `${index}${name}${op}`;
}

function planLayer(
  raw: unknown,
  index: number,
  inputShape: readonly number[],
  names: Set<string>,
  earlier: readonly LayerPlan[],
  fail: (m: string) => never,
): LayerPlan {
  if (!isRecord(raw)) fail('a layer must be an object with an "op"');
  const spec = raw as Record<string, unknown>;
  const op = spec.op;
  if (typeof op !== 'string') fail('missing "op"');
  const allowed = LAYER_ARGS[op as string];
  if (!allowed) fail(`unknown op '${String(op)}'; layers are ${LAYER_OPS.join(', ')}`);
  for (const key of Object.keys(spec)) {
    if (!COMMON_KEYS.has(key) && !allowed!.includes(key)) fail(`unknown argument '${key}' for ${String(op)}`);
  }
  let name = String(index);
  if (spec.name !== undefined) {
    if (typeof spec.name !== 'string' || spec.name === '' || spec.name.includes('.')) {
      fail('"name" must be a non-empty string without "."');
    }
    name = spec.name as string;
  }
  if (names.has(name)) fail(`duplicate layer name '${name}'`);
  names.add(name);
  const args = { op: op as string, name, index, spec, inputShape, fail };
  switch (op) {
    case 'conv1d':
    case 'conv2d':
      return planConv(args);
    case 'linear':
      return planLinear(args);
    case 'batch_norm':
      return planBatchNorm(args);
    case 'relu':
      return simple(args, 'relu', {}, inputShape);
    case 'flatten':
      return planFlatten(args);
    case 'dropout':
      return planDropout(args);
    case 'max_unpool1d':
    case 'max_unpool2d':
    case 'max_unpool3d':
      return planUnpool(args, earlier);
    default:
      return planPooling(args);
  }
}

interface LayerArgs {
  readonly op: string;
  readonly name: string;
  readonly index: number;
  readonly spec: Record<string, unknown>;
  readonly inputShape: readonly number[];
  readonly fail: (message: string) => never;
}

function simple(a: LayerArgs, kind: LayerKind, kernelParams: Record<string, unknown>, outputShape: readonly number[]): LayerPlan {
  return { index: a.index, name: a.name, op: a.op, kind, kernelParams, inputShape: a.inputShape, outputShape, parameters: [], buffers: [] };
}

/** Runs the registered kernel's shape check on a batch of one and returns its output shape per sample. */
function planWithKernel(a: LayerArgs, shapes: Record<string, readonly number[]>, params: Record<string, unknown>): number[] {
  const kernel = getOp(a.op);
  if (!kernel) a.fail(`op '${a.op}' is not available`);
  const plan = kernel!.plan(shapes, params);
  const out = plan.outputs.output;
  if (!out) a.fail(`op '${a.op}' reports no output shape`);
  return out!.slice(1);
}

function planConv(a: LayerArgs): LayerPlan {
  const dims = a.op === 'conv1d' ? 1 : 2;
  const inChannels = positiveInt(a, 'in_channels');
  const outChannels = positiveInt(a, 'out_channels');
  const kernel = intTuple(a, 'kernel_size', dims, undefined);
  const groups = optionalInt(a, 'groups', 1);
  const bias = optionalBool(a, 'bias', true);
  if (groups < 1) a.fail('groups must be a positive integer');
  // nn.Conv*d's own checks (ValueError), before F.conv*d sees anything.
  if (inChannels % groups !== 0) a.fail('in_channels must be divisible by groups');
  if (outChannels % groups !== 0) a.fail('out_channels must be divisible by groups');
  const kernelParams: Record<string, unknown> = { groups };
  for (const key of ['stride', 'padding', 'dilation'] as const) {
    if (a.spec[key] !== undefined) kernelParams[key] = convArg(a, key, dims);
  }
  const weightShape = [outChannels, inChannels / groups, ...kernel];
  const fanIn = (inChannels / groups) * kernel.reduce((x, y) => x * y, 1);
  const shapes: Record<string, readonly number[]> = { input: [1, ...a.inputShape], weight: weightShape };
  if (bias) shapes.bias = [outChannels];
  const outputShape = planWithKernel(a, shapes, kernelParams);
  const parameters: ParameterInfo[] = [{ name: `${a.name}.weight`, shape: weightShape, init: { kind: 'kaiming_uniform', fanIn } }];
  if (bias) parameters.push({ name: `${a.name}.bias`, shape: [outChannels], init: { kind: 'bias_uniform', fanIn } });
  return { ...simple(a, 'conv', kernelParams, outputShape), parameters };
}

function planLinear(a: LayerArgs): LayerPlan {
  const inFeatures = positiveInt(a, 'in_features');
  const outFeatures = positiveInt(a, 'out_features');
  const bias = optionalBool(a, 'bias', true);
  const weightShape = [outFeatures, inFeatures];
  const shapes: Record<string, readonly number[]> = { input: [1, ...a.inputShape], weight: weightShape };
  if (bias) shapes.bias = [outFeatures];
  const outputShape = planWithKernel(a, shapes, {});
  const parameters: ParameterInfo[] = [{ name: `${a.name}.weight`, shape: weightShape, init: { kind: 'kaiming_uniform', fanIn: inFeatures } }];
  if (bias) parameters.push({ name: `${a.name}.bias`, shape: [outFeatures], init: { kind: 'bias_uniform', fanIn: inFeatures } });
  return { ...simple(a, 'linear', {}, outputShape), parameters };
}

function planBatchNorm(a: LayerArgs): LayerPlan {
  const features = positiveInt(a, 'num_features');
  const eps = optionalNumber(a, 'eps', 1e-5);
  const momentum = optionalNumber(a, 'momentum', 0.1);
  const affine = optionalBool(a, 'affine', true);
  const trackRunningStats = optionalBool(a, 'track_running_stats', true);
  if (!(eps > 0)) a.fail('eps must be positive');
  if (a.inputShape.length < 1) a.fail('batch_norm needs an input with a channel dimension');
  // F.batch_norm's message for a channel count that does not match the statistics.
  if (a.inputShape[0] !== features) a.fail(`running_mean should contain ${a.inputShape[0]} elements not ${features}`);
  const parameters: ParameterInfo[] = affine
    ? [
        { name: `${a.name}.weight`, shape: [features], init: { kind: 'constant', value: 1 } },
        { name: `${a.name}.bias`, shape: [features], init: { kind: 'constant', value: 0 } },
      ]
    : [];
  const buffers: ParameterInfo[] = trackRunningStats
    ? [
        { name: `${a.name}.running_mean`, shape: [features], init: { kind: 'constant', value: 0 } },
        { name: `${a.name}.running_var`, shape: [features], init: { kind: 'constant', value: 1 } },
      ]
    : [];
  const kernelParams = { eps, momentum, affine, track_running_stats: trackRunningStats };
  return { ...simple(a, 'batch_norm', kernelParams, a.inputShape), parameters, buffers };
}

function planFlatten(a: LayerArgs): LayerPlan {
  const startDim = optionalInt(a, 'start_dim', 1);
  const endDim = optionalInt(a, 'end_dim', -1);
  const rank = a.inputShape.length + 1;
  const start = startDim < 0 ? startDim + rank : startDim;
  const end = endDim < 0 ? endDim + rank : endDim;
  if (start < 0 || start >= rank || end < 0 || end >= rank) {
    a.fail(`Dimension out of range (expected to be in range of [${-rank}, ${rank - 1}], but got ${start < 0 || start >= rank ? startDim : endDim})`);
  }
  if (start === 0) a.fail('flatten must keep the batch dimension: start_dim must be at least 1');
  if (start > end) a.fail('flatten() has invalid args: start_dim cannot come after end_dim');
  const full = [1, ...a.inputShape];
  const merged = full.slice(start, end + 1).reduce((x, y) => x * y, 1);
  const outputShape = [...full.slice(1, start), merged, ...full.slice(end + 1)];
  return simple(a, 'flatten', { start_dim: startDim, end_dim: endDim }, outputShape);
}

function planDropout(a: LayerArgs): LayerPlan {
  const p = optionalNumber(a, 'p', 0.5);
  if (!(p >= 0 && p <= 1)) a.fail(`dropout probability has to be between 0 and 1, but got ${p}`);
  return simple(a, 'dropout', { p }, a.inputShape);
}

function planPooling(a: LayerArgs): LayerPlan {
  const kernelParams: Record<string, unknown> = {};
  for (const key of POOLING_ARGS[a.op]!) if (a.spec[key] !== undefined) kernelParams[key] = a.spec[key];
  for (const key of requiredPoolingArgs(a.op)) {
    if (kernelParams[key] === undefined) a.fail(`missing argument '${key}'`);
  }
  if (kernelParams.return_indices === true) {
    a.fail('return_indices=True gives two outputs, which a layer list cannot pass on');
  }
  // Training differentiates through the max pools, which takes PyTorch's with-indices path.
  if (isMaxPool(a.op)) kernelParams.return_indices = true;
  const outputShape = planWithKernel(a, { input: [1, ...a.inputShape] }, kernelParams);
  return simple(a, 'pool', kernelParams, outputShape);
}

function planUnpool(a: LayerArgs, earlier: readonly LayerPlan[]): LayerPlan {
  const from = a.spec.indices_from;
  const poolOp = a.op.replace('max_unpool', 'max_pool');
  if (typeof from !== 'string') a.fail(`missing argument 'indices_from': the name of the ${poolOp} layer whose indices to use`);
  const source = earlier.find((l) => l.name === from);
  if (!source) a.fail(`indices_from '${String(from)}' names no earlier layer`);
  if (source!.op !== poolOp) a.fail(`indices_from '${String(from)}' is a ${source!.op} layer, not ${poolOp}`);
  const kernelParams: Record<string, unknown> = {};
  for (const key of POOLING_ARGS[a.op]!) if (a.spec[key] !== undefined) kernelParams[key] = a.spec[key];
  if (kernelParams.kernel_size === undefined) a.fail("missing argument 'kernel_size'");
  const outputShape = planWithKernel(a, { input: [1, ...a.inputShape], indices: [1, ...source!.outputShape] }, kernelParams);
  return { ...simple(a, 'unpool', kernelParams, outputShape), indicesFrom: source!.index };
}

// --- argument readers ---------------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(a: LayerArgs, key: string): number {
  const v = a.spec[key];
  if (v === undefined) a.fail(`missing argument '${key}'`);
  if (!Number.isInteger(v) || (v as number) < 1) a.fail(`'${key}' must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function optionalInt(a: LayerArgs, key: string, fallback: number): number {
  const v = a.spec[key];
  if (v === undefined) return fallback;
  if (!Number.isInteger(v)) a.fail(`'${key}' must be an integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function optionalNumber(a: LayerArgs, key: string, fallback: number): number {
  const v = a.spec[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) a.fail(`'${key}' must be a number, got ${JSON.stringify(v)}`);
  return v as number;
}

function optionalBool(a: LayerArgs, key: string, fallback: boolean): boolean {
  const v = a.spec[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') a.fail(`'${key}' must be true or false, got ${JSON.stringify(v)}`);
  return v as boolean;
}

/** An int or a tuple of `dims` ints, expanded to the tuple. */
function intTuple(a: LayerArgs, key: string, dims: number, fallback: number | undefined): number[] {
  const v = a.spec[key] ?? fallback;
  if (v === undefined) a.fail(`missing argument '${key}'`);
  if (Number.isInteger(v)) {
    if ((v as number) < 1) a.fail(`'${key}' must be positive, got ${v as number}`);
    return new Array<number>(dims).fill(v as number);
  }
  if (Array.isArray(v) && v.length === dims && v.every((x) => Number.isInteger(x) && x >= 1)) return [...(v as number[])];
  return a.fail(`'${key}' must be a positive integer or a list of ${dims}, got ${JSON.stringify(v)}`);
}

/** stride / padding / dilation of a convolution: an int, a tuple, or (padding only) 'same' / 'valid'. */
function convArg(a: LayerArgs, key: string, dims: number): unknown {
  const v = a.spec[key];
  if (key === 'padding' && typeof v === 'string') return v;
  if (Number.isInteger(v)) return v;
  if (Array.isArray(v) && v.length === dims && v.every((x) => Number.isInteger(x))) return v;
  return a.fail(`'${key}' must be an integer or a list of ${dims}${key === 'padding' ? ", 'same' or 'valid'" : ''}, got ${JSON.stringify(v)}`);
}
