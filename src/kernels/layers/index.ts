/**
 * The CNN layer kernels: convolution, linear, activations, loss, normalisation, reshaping and
 * dropout, each with its backward, all matrix products through `gemm`.
 */
import type { OpSpec } from '../registry.js';
import { batchNormOp } from './batch_norm.js';
import { conv1dOp } from './conv1d.js';
import { conv2dOp } from './conv2d.js';
import { convTranspose2dOp } from './conv_transpose2d.js';
import { crossEntropyOp } from './cross_entropy.js';
import { dropoutOp } from './dropout.js';
import { flattenOp } from './flatten.js';
import { linearOp } from './linear.js';
import { reluOp } from './relu.js';
import { logSoftmaxOp, softmaxOp } from './softmax.js';

export const layerOps: OpSpec[] = [
  conv1dOp,
  conv2dOp,
  convTranspose2dOp,
  linearOp,
  reluOp,
  softmaxOp,
  logSoftmaxOp,
  crossEntropyOp,
  batchNormOp,
  flattenOp,
  dropoutOp,
];

export { batchNorm, batchNormBackward, type BatchNormOptions, type BatchNormResult } from './batch_norm.js';
export { conv1d, conv1dBackward } from './conv1d.js';
export { conv2d, conv2dBackward, conv2dWeightBackward, type ConvGradients, type ConvOptions } from './conv2d.js';
export { convTranspose2d, convTranspose2dBackward, type ConvTransposeOptions } from './conv_transpose2d.js';
export { crossEntropy, crossEntropyBackward, type CrossEntropyOptions } from './cross_entropy.js';
export { dropout, dropoutBackward, type DropoutOptions } from './dropout.js';
export { flatten, flattenBackward, type FlattenOptions } from './flatten.js';
export { linear, linearBackward } from './linear.js';
export { relu, reluBackward } from './relu.js';
export { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward, type SoftmaxOptions } from './softmax.js';
