/** torch.nn.functional.linear: y = x·Wᵀ + b over any leading dims, and its backward. */
import { check, formatSizes } from '../errors.js';
import { gemm } from '../gemm.js';
import type { OpSpec } from '../registry.js';
import { zerosFloat } from '../storage.js';
import type { FloatTensor } from '../tensor.js';
import { checkKeywords, floatTensor, optionalFloatTensor, required, sameDtype } from './args.js';
import { inputWeightBiasArgs, inputWeightBiasGradients } from './weighted_op.js';

export interface LinearGradients {
  grad_input: FloatTensor;
  grad_weight: FloatTensor;
  grad_bias?: FloatTensor;
}

interface LinearGeometry {
  /** Rows of the flattened input: the product of its leading dims (1 for a 1-d input). */
  rows: number;
  inFeatures: number;
  outFeatures: number;
  outputShape: number[];
}

function linearGeometry(inputShape: readonly number[], weightShape: readonly number[], biasShape: readonly number[] | null): LinearGeometry {
  check(inputShape.length >= 1, () => `both arguments to linear need to be at least 1D, but they are ${inputShape.length}D and ${weightShape.length}D`);
  check(weightShape.length === 2, () => `linear(): weight should be 2-D, but got weight of size ${formatSizes(weightShape)}`);
  const inFeatures = inputShape[inputShape.length - 1]!;
  const [outFeatures, weightIn] = weightShape as [number, number];
  let rows = 1;
  for (let i = 0; i < inputShape.length - 1; i++) rows *= inputShape[i]!;
  check(
    inFeatures === weightIn,
    () => `mat1 and mat2 shapes cannot be multiplied (${rows}x${inFeatures} and ${weightIn}x${outFeatures})`,
  );
  check(
    biasShape === null || (biasShape.length === 1 && biasShape[0] === outFeatures),
    () =>
      `The expanded size of the tensor (${outFeatures}) must match the existing size (${biasShape![biasShape!.length - 1] ?? 1}) at non-singleton dimension 1.  Target sizes: [${rows}, ${outFeatures}].  Tensor sizes: ${formatSizes(biasShape!)}`,
  );
  return { rows, inFeatures, outFeatures, outputShape: [...inputShape.slice(0, -1), outFeatures] };
}

export function linear(input: FloatTensor, weight: FloatTensor, bias: FloatTensor | null): FloatTensor {
  const g = linearGeometry(input.shape, weight.shape, bias?.shape ?? null);
  const dtype = sameDtype(input, weight, bias);
  const out = zerosFloat(dtype, g.outputShape);
  if (bias) for (let r = 0; r < g.rows; r++) out.data.set(bias.data, r * g.outFeatures);
  gemm(false, true, g.rows, g.outFeatures, g.inFeatures, 1, input.data, 0, g.inFeatures, weight.data, 0, g.inFeatures,
    bias ? 1 : 0, out.data, 0, g.outFeatures);
  return out;
}

export function linearBackward(gradOutput: FloatTensor, input: FloatTensor, weight: FloatTensor, hasBias: boolean): LinearGradients {
  const g = linearGeometry(input.shape, weight.shape, null);
  const dtype = sameDtype(input, weight, gradOutput);
  check(
    gradOutput.data.length === g.rows * g.outFeatures,
    () => `Expected grad_output of size ${formatSizes(g.outputShape)}, but got grad_output of size ${formatSizes(gradOutput.shape)}`,
  );
  const { rows, inFeatures, outFeatures } = g;
  const gradInput = zerosFloat(dtype, input.shape);
  const gradWeight = zerosFloat(dtype, weight.shape);
  // grad_input = gO · W; grad_weight = gOᵀ · x
  gemm(false, false, rows, inFeatures, outFeatures, 1, gradOutput.data, 0, outFeatures, weight.data, 0, inFeatures,
    0, gradInput.data, 0, inFeatures);
  gemm(true, false, outFeatures, inFeatures, rows, 1, gradOutput.data, 0, outFeatures, input.data, 0, inFeatures,
    0, gradWeight.data, 0, inFeatures);
  if (!hasBias) return { grad_input: gradInput, grad_weight: gradWeight };
  const sums = new Float64Array(outFeatures);
  const gO = gradOutput.data;
  for (let r = 0; r < rows; r++) {
    const base = r * outFeatures;
    for (let o = 0; o < outFeatures; o++) sums[o] += gO[base + o]!;
  }
  const gradBias = zerosFloat(dtype, [outFeatures]);
  gradBias.data.set(sums);
  return { grad_input: gradInput, grad_weight: gradWeight, grad_bias: gradBias };
}

export const linearOp: OpSpec = {
  name: 'linear',
  summary: 'Affine map y = x·Wᵀ + b over the last dim, as torch.nn.functional.linear',
  // Not weightedLayerOp: linear checks its (absent) keywords before anything, and its backward
  // reads grad_output before the bias-less shape check.
  tensorArgs: inputWeightBiasArgs,
  gradients: inputWeightBiasGradients,
  plan(shapes, params) {
    checkKeywords('linear', params, []);
    const g = linearGeometry(required('linear', shapes, 'input'), required('linear', shapes, 'weight'), shapes.bias ?? null);
    return { outputs: { output: g.outputShape }, work: g.rows * g.inFeatures * g.outFeatures };
  },
  forward(tensors, params) {
    checkKeywords('linear', params, []);
    return { output: linear(floatTensor('linear', tensors, 'input'), floatTensor('linear', tensors, 'weight'), optionalFloatTensor(tensors, 'bias')) };
  },
  backward(tensors, params) {
    checkKeywords('linear', params, []);
    const input = floatTensor('linear', tensors, 'input');
    const weight = floatTensor('linear', tensors, 'weight');
    const bias = optionalFloatTensor(tensors, 'bias');
    if (bias) linearGeometry(input.shape, weight.shape, bias.shape);
    return { ...linearBackward(floatTensor('linear', tensors, 'grad_output'), input, weight, bias !== null) };
  },
};
