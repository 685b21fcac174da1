/**
 * torch.nn.functional.batch_norm over (N, C, *) inputs, training and evaluation, and its backward.
 *
 * Training normalises each channel with the batch mean and the biased variance, and returns
 * updated copies of the running statistics: running_mean = (1-m)·running_mean + m·mean and
 * running_var = (1-m)·running_var + m·var·n/(n-1) (unbiased), n = values per channel. Evaluation
 * normalises with the running statistics. As in ATen's InvStd, var + eps = 0 gives invstd 0.
 */
import { KernelArgumentError, check, formatSizes } from '../errors.js';
import type { OpSpec, Params, Shapes } from '../registry.js';
import { allocate, zerosFloat } from '../storage.js';
import type { FloatTensor, Tensor } from '../tensor.js';
import { boolArg, checkKeywords, floatArg, floatTensor, optionalFloatTensor, sameDtype, tensorOf } from './args.js';

export interface BatchNormOptions {
  training?: boolean;
  momentum?: number;
  eps?: number;
}

export interface BatchNormResult {
  output: FloatTensor;
  running_mean?: FloatTensor;
  running_var?: FloatTensor;
  /** The mean and 1/sqrt(var + eps) the output was normalised with, per channel (for the backward). */
  save_mean: FloatTensor;
  save_invstd: FloatTensor;
}

export interface BatchNormGradients {
  grad_input: FloatTensor;
  grad_weight?: FloatTensor;
  grad_bias?: FloatTensor;
}

interface Settings {
  training: boolean;
  momentum: number;
  eps: number;
}

function settings(params: Params): Settings {
  const fn = 'batch_norm';
  checkKeywords(fn, params, ['training', 'momentum', 'eps']);
  return {
    training: boolArg(fn, 'training', params.training, false),
    momentum: floatArg(fn, 'momentum', params.momentum, 0.1),
    eps: floatArg(fn, 'eps', params.eps, 1e-5),
  };
}

interface Geometry {
  batch: number;
  channels: number;
  /** Values per (n, c): the product of the spatial dims. */
  plane: number;
}

function geometry(input: readonly number[], s: Settings, others: Record<string, readonly number[] | null>): Geometry {
  if (input.length < 2) {
    throw new KernelArgumentError(
      `Dimension out of range (expected to be in range of [${-Math.max(input.length, 1)}, ${Math.max(input.length, 1) - 1}], but got 1)`,
      'IndexError',
    );
  }
  let plane = 1;
  for (let i = 2; i < input.length; i++) plane *= input[i]!;
  if (s.training && input[0]! * plane === 1) {
    throw new KernelArgumentError(
      `Expected more than 1 value per channel when training, got input size torch.Size(${formatSizes(input)})`,
      'ValueError',
    );
  }
  const channels = input[1]!;
  for (const name of ['running_mean', 'running_var', 'weight', 'bias']) {
    const shape = others[name];
    if (shape) {
      const n = shape.reduce((a, b) => a * b, 1);
      check(n === channels, () => `${name} should contain ${channels} elements not ${n}`);
    } else if (!s.training && (name === 'running_mean' || name === 'running_var')) {
      throw new KernelArgumentError(`${name} must be defined in evaluation mode`);
    }
  }
  return { batch: input[0]!, channels, plane };
}

function invStd(variance: number, eps: number): number {
  return variance === 0 && eps === 0 ? 0 : 1 / Math.sqrt(variance + eps);
}

export function batchNorm(
  input: FloatTensor,
  runningMean: FloatTensor | null,
  runningVar: FloatTensor | null,
  weight: FloatTensor | null,
  bias: FloatTensor | null,
  opts: BatchNormOptions = {},
): BatchNormResult {
  const s = settings(opts as Params);
  const g = geometry(input.shape, s, {
    running_mean: runningMean?.shape ?? null,
    running_var: runningVar?.shape ?? null,
    weight: weight?.shape ?? null,
    bias: bias?.shape ?? null,
  });
  const dtype = sameDtype(input, runningMean, runningVar, weight, bias);
  const { batch, channels, plane } = g;
  const x = input.data;
  const out = allocate(dtype, x.length);
  const saveMean = zerosFloat(dtype, [channels]);
  const saveInvstd = zerosFloat(dtype, [channels]);
  const newMean = runningMean && s.training ? zerosFloat(dtype, [channels]) : undefined;
  const newVar = runningVar && s.training ? zerosFloat(dtype, [channels]) : undefined;
  const count = batch * plane;
  const stride = channels * plane;
  for (let c = 0; c < channels; c++) {
    let mean: number;
    let istd: number;
    if (s.training) {
      let sum = 0;
      for (let n = 0; n < batch; n++) for (let i = n * stride + c * plane, e = i + plane; i < e; i++) sum += x[i]!;
      mean = sum / count;
      let squares = 0;
      for (let n = 0; n < batch; n++) {
        for (let i = n * stride + c * plane, e = i + plane; i < e; i++) squares += (x[i]! - mean) ** 2;
      }
      istd = invStd(squares / count, s.eps);
      if (newMean) newMean.data[c] = s.momentum * mean + (1 - s.momentum) * runningMean!.data[c]!;
      if (newVar) newVar.data[c] = s.momentum * (squares / (count - 1)) + (1 - s.momentum) * runningVar!.data[c]!;
    } else {
      mean = runningMean!.data[c]!;
      istd = invStd(runningVar!.data[c]!, s.eps);
    }
    saveMean.data[c] = mean;
    saveInvstd.data[c] = istd;
    const scale = istd * (weight ? weight.data[c]! : 1);
    const shift = bias ? bias.data[c]! : 0;
    for (let n = 0; n < batch; n++) {
      for (let i = n * stride + c * plane, e = i + plane; i < e; i++) out[i] = (x[i]! - mean) * scale + shift;
    }
  }
  return {
    output: tensorOf(dtype, input.shape, out),
    ...(newMean ? { running_mean: newMean } : {}),
    ...(newVar ? { running_var: newVar } : {}),
    save_mean: saveMean,
    save_invstd: saveInvstd,
  };
}

/**
 * Training: g_in = w·invstd·(g - mean(g) - x̂·mean(g·x̂)), x̂ = (x - mean)·invstd; evaluation:
 * g_in = w·invstd·g. Both: grad_weight = Σ g·x̂, grad_bias = Σ g. `hasBias` defaults to whether
 * the layer is affine (a weight is given).
 */
export function batchNormBackward(
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor | null,
  opts: BatchNormOptions,
  saved: { save_mean: FloatTensor; save_invstd: FloatTensor },
  hasBias: boolean = weight !== null,
): BatchNormGradients {
  const s = settings(opts as Params);
  const dtype = sameDtype(input, gradOutput, weight);
  check(
    gradOutput.data.length === input.data.length,
    () => `Expected grad_output of size ${formatSizes(input.shape)}, but got grad_output of size ${formatSizes(gradOutput.shape)}`,
  );
  const batch = input.shape[0]!;
  const channels = input.shape[1]!;
  const plane = input.data.length / Math.max(1, batch * channels);
  const stride = channels * plane;
  const count = batch * plane;
  const x = input.data;
  const go = gradOutput.data;
  const gradInput = allocate(dtype, x.length);
  const gradWeight = weight ? zerosFloat(dtype, [channels]) : undefined;
  const gradBias = hasBias ? zerosFloat(dtype, [channels]) : undefined;
  for (let c = 0; c < channels; c++) {
    const mean = saved.save_mean.data[c]!;
    const istd = saved.save_invstd.data[c]!;
    let sumG = 0;
    let dot = 0; // Σ g·(x - mean)
    for (let n = 0; n < batch; n++) {
      for (let i = n * stride + c * plane, e = i + plane; i < e; i++) {
        sumG += go[i]!;
        dot += go[i]! * (x[i]! - mean);
      }
    }
    const w = weight ? weight.data[c]! : 1;
    if (s.training) {
      const meanG = sumG / count;
      const proj = (dot * istd * istd) / count;
      for (let n = 0; n < batch; n++) {
        for (let i = n * stride + c * plane, e = i + plane; i < e; i++) {
          gradInput[i] = (go[i]! - meanG - (x[i]! - mean) * proj) * istd * w;
        }
      }
    } else {
      for (let n = 0; n < batch; n++) {
        for (let i = n * stride + c * plane, e = i + plane; i < e; i++) gradInput[i] = go[i]! * istd * w;
      }
    }
    if (gradWeight) gradWeight.data[c] = dot * istd;
    if (gradBias) gradBias.data[c] = sumG;
  }
  return {
    grad_input: tensorOf(dtype, input.shape, gradInput),
    ...(gradWeight ? { grad_weight: gradWeight } : {}),
    ...(gradBias ? { grad_bias: gradBias } : {}),
  };
}

function shapesOf(shapes: Shapes) {
  return {
    running_mean: shapes.running_mean ?? null,
    running_var: shapes.running_var ?? null,
    weight: shapes.weight ?? null,
    bias: shapes.bias ?? null,
  };
}

function tensorsOf(tensors: Readonly<Record<string, Tensor>>) {
  return {
    input: floatTensor('batch_norm', tensors, 'input'),
    runningMean: optionalFloatTensor(tensors, 'running_mean'),
    runningVar: optionalFloatTensor(tensors, 'running_var'),
    weight: optionalFloatTensor(tensors, 'weight'),
    bias: optionalFloatTensor(tensors, 'bias'),
  };
}

export const batchNormOp: OpSpec = {
  name: 'batch_norm',
  summary: 'Batch normalisation per channel (training or evaluation), as torch.nn.functional.batch_norm',
  tensorArgs: [
    { name: 'input', kind: 'float' },
    { name: 'running_mean', kind: 'float', optional: true },
    { name: 'running_var', kind: 'float', optional: true },
    { name: 'weight', kind: 'float', optional: true },
    { name: 'bias', kind: 'float', optional: true },
  ],
  gradients: ['grad_input', 'grad_weight', 'grad_bias'],
  plan(shapes, params) {
    const s = settings(params);
    const input = shapes.input ?? [];
    const g = geometry(input, s, shapesOf(shapes));
    const outputs: Record<string, readonly number[]> = { output: [...input] };
    if (s.training && shapes.running_mean) outputs.running_mean = [g.channels];
    if (s.training && shapes.running_var) outputs.running_var = [g.channels];
    return { outputs, work: 3 * input.reduce((a, b) => a * b, 1) };
  },
  forward(tensors, params) {
    const t = tensorsOf(tensors);
    const r = batchNorm(t.input, t.runningMean, t.runningVar, t.weight, t.bias, params as BatchNormOptions);
    return {
      output: r.output,
      ...(r.running_mean ? { running_mean: r.running_mean } : {}),
      ...(r.running_var ? { running_var: r.running_var } : {}),
    };
  },
  backward(tensors, params) {
    const t = tensorsOf(tensors);
    const r = batchNorm(t.input, t.runningMean, t.runningVar, t.weight, t.bias, params as BatchNormOptions);
    const grads = batchNormBackward(floatTensor('batch_norm', tensors, 'grad_output'), t.input, t.weight,
      params as BatchNormOptions, r, t.bias !== null);
    return { ...grads };
  },
};
