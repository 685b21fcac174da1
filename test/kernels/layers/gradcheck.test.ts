/**
 * Every layer's backward against central finite differences in float64: the analytic gradient of
 * L = Σ output · R (R a fixed random tensor) must match (L(x + h) - L(x - h)) / 2h elementwise.
 */
import { describe, expect, it } from 'vitest';
import { batchNorm, batchNormBackward } from '../../../src/kernels/layers/batch_norm.js';
import { conv1d, conv1dBackward } from '../../../src/kernels/layers/conv1d.js';
import { conv2d, conv2dBackward, conv2dWeightBackward } from '../../../src/kernels/layers/conv2d.js';
import { convTranspose2d, convTranspose2dBackward } from '../../../src/kernels/layers/conv_transpose2d.js';
import { crossEntropy, crossEntropyBackward, type CrossEntropyOptions } from '../../../src/kernels/layers/cross_entropy.js';
import { dropout, dropoutBackward } from '../../../src/kernels/layers/dropout.js';
import { flatten, flattenBackward } from '../../../src/kernels/layers/flatten.js';
import { linear, linearBackward } from '../../../src/kernels/layers/linear.js';
import { relu, reluBackward } from '../../../src/kernels/layers/relu.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../../../src/kernels/layers/softmax.js';
import type { FloatTensor, IntTensor } from '../../../src/kernels/tensor.js';

let seed = 12345;
function random(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 4294967296;
}

function tensor(shape: number[], lo = -1, hi = 1): FloatTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, dtype: 'float64', data: Float64Array.from({ length: n }, () => lo + (hi - lo) * random()) };
}

function dot(a: FloatTensor, b: FloatTensor): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i]! * b.data[i]!;
  return s;
}

/**
 * Checks `analytic` (d loss / d wrt) against central differences of `loss`, perturbing `wrt` in
 * place. Tolerance: 1e-6 absolute plus 1e-5 relative, far below any real gradient error.
 */
function expectGradient(name: string, wrt: FloatTensor, analytic: FloatTensor | undefined, loss: () => number) {
  expect(analytic, `${name}: gradient missing`).toBeDefined();
  expect([...analytic!.shape]).toEqual([...wrt.shape]);
  const h = 1e-6;
  const mismatches: string[] = [];
  for (let i = 0; i < wrt.data.length; i++) {
    const saved = wrt.data[i]!;
    wrt.data[i] = saved + h;
    const up = loss();
    wrt.data[i] = saved - h;
    const down = loss();
    wrt.data[i] = saved;
    const numeric = (up - down) / (2 * h);
    const a = analytic!.data[i]!;
    if (!(Math.abs(a - numeric) <= 1e-6 + 1e-5 * Math.abs(numeric))) mismatches.push(`[${i}] analytic ${a}, numeric ${numeric}`);
  }
  expect(mismatches, name).toEqual([]);
}

type Conv = typeof conv2d;
type ConvBackward = typeof conv2dBackward;

function checkConv(forward: Conv, backward: ConvBackward, input: FloatTensor, weight: FloatTensor, bias: FloatTensor | null, opts: object) {
  const out = forward(input, weight, bias, opts);
  const r = tensor([...out.shape]);
  const loss = () => dot(forward(input, weight, bias, opts), r);
  const grads = backward(r, input, weight, bias !== null, opts);
  expectGradient('input', input, grads.grad_input, loss);
  expectGradient('weight', weight, grads.grad_weight, loss);
  if (bias) expectGradient('bias', bias, grads.grad_bias, loss);
}

describe('finite-difference gradients (float64)', () => {
  it('conv1d: stride, padding, dilation, groups', () => {
    checkConv(conv1d as Conv, conv1dBackward as ConvBackward, tensor([2, 4, 9]), tensor([6, 2, 3]), tensor([6]), {
      stride: 2,
      padding: 2,
      dilation: 2,
      groups: 2,
    });
    checkConv(conv1d as Conv, conv1dBackward as ConvBackward, tensor([3, 7]), tensor([2, 3, 4]), null, { padding: 'same' });
  });

  it('conv2d: asymmetric same padding, groups, strides, unbatched, 1x1', () => {
    checkConv(conv2d, conv2dBackward, tensor([2, 4, 6, 5]), tensor([4, 2, 2, 3]), tensor([4]), { padding: 'same', groups: 2 });
    checkConv(conv2d, conv2dBackward, tensor([1, 3, 7, 8]), tensor([2, 3, 3, 2]), tensor([2]), {
      stride: [2, 3],
      padding: [1, 2],
      dilation: [2, 1],
    });
    checkConv(conv2d, conv2dBackward, tensor([3, 5, 5]), tensor([2, 3, 3, 3]), null, { padding: 1 });
    checkConv(conv2d, conv2dBackward, tensor([2, 3, 4, 4]), tensor([5, 3, 1, 1]), tensor([5]), {});
  });

  it('conv2dWeightBackward gives the same parameter gradients without grad_input', () => {
    const input = tensor([2, 3, 6, 6]);
    const weight = tensor([4, 3, 3, 3]);
    const r = tensor([2, 4, 3, 3]);
    const opts = { stride: 2, padding: 1 };
    const full = conv2dBackward(r, input, weight, true, opts);
    const params = conv2dWeightBackward(r, input, weight, true, opts);
    expect('grad_input' in params).toBe(false);
    expect(params.grad_weight.data).toEqual(full.grad_weight.data);
    expect(params.grad_bias!.data).toEqual(full.grad_bias!.data);
  });

  it('conv2d: a product large enough for the blocked gemm path', () => {
    checkConv(conv2d, conv2dBackward, tensor([1, 4, 6, 6]), tensor([5, 4, 3, 3]), tensor([5]), { padding: 1 });
  });

  it('conv_transpose2d: stride, output_padding, groups, dilation, unbatched', () => {
    checkConv(convTranspose2d as Conv, convTranspose2dBackward as ConvBackward, tensor([2, 4, 3, 3]), tensor([4, 3, 3, 2]), tensor([6]), {
      stride: 2,
      padding: 1,
      output_padding: 1,
      groups: 2,
    });
    checkConv(convTranspose2d as Conv, convTranspose2dBackward as ConvBackward, tensor([2, 3, 4]), tensor([2, 2, 2, 3]), null, {
      dilation: 2,
      output_padding: [1, 0],
      stride: [1, 2],
    });
  });

  it('linear: 3-d input, with and without bias', () => {
    const input = tensor([2, 3, 5]);
    const weight = tensor([4, 5]);
    const bias = tensor([4]);
    const r = tensor([2, 3, 4]);
    const loss = () => dot(linear(input, weight, bias), r);
    const grads = linearBackward(r, input, weight, true);
    expectGradient('input', input, grads.grad_input, loss);
    expectGradient('weight', weight, grads.grad_weight, loss);
    expectGradient('bias', bias, grads.grad_bias, loss);
    const x1 = tensor([5]);
    const r1 = tensor([4]);
    expectGradient('1-d input', x1, linearBackward(r1, x1, weight, false).grad_input, () => dot(linear(x1, weight, null), r1));
  });

  it('relu, away from the kink at 0', () => {
    const input = tensor([3, 7]);
    for (let i = 0; i < input.data.length; i++) if (Math.abs(input.data[i]!) < 0.05) input.data[i] = 0.5;
    const r = tensor([3, 7]);
    expectGradient('input', input, reluBackward(r, input), () => dot(relu(input), r));
  });

  it('softmax and log_softmax along each dim', () => {
    for (const dim of [0, 1, -1]) {
      const input = tensor([3, 4, 2], -3, 3);
      const r = tensor([3, 4, 2]);
      expectGradient(`softmax dim ${dim}`, input, softmaxBackward(r, softmax(input, { dim }), { dim }), () => dot(softmax(input, { dim }), r));
      expectGradient(`log_softmax dim ${dim}`, input, logSoftmaxBackward(r, logSoftmax(input, { dim }), { dim }), () =>
        dot(logSoftmax(input, { dim }), r),
      );
    }
  });

  it('cross_entropy: weights, label smoothing, every reduction, ignore_index, extra dims', () => {
    const target: IntTensor = { shape: [5], dtype: 'int64', data: Int32Array.from([0, 3, 1, 3, 2]) };
    const weight = tensor([4], 0.2, 2);
    const variants: CrossEntropyOptions[] = [
      {},
      { label_smoothing: 0.2 },
      { weight, label_smoothing: 0.1 },
      { weight, reduction: 'sum', label_smoothing: 0.3 },
      { reduction: 'none', label_smoothing: 0.1 },
      { weight, ignore_index: 3 },
      { label_smoothing: 0.2, ignore_index: 1 },
    ];
    for (const opts of variants) {
      const input = tensor([5, 4], -2, 2);
      const r = opts.reduction === 'none' ? tensor([5]) : { shape: [], dtype: 'float64' as const, data: Float64Array.of(0.7) };
      const loss = () => dot(crossEntropy(input, target, opts), r);
      expectGradient(JSON.stringify({ ...opts, weight: !!opts.weight }), input, crossEntropyBackward(r, input, target, opts), loss);
    }
    const spatial: IntTensor = { shape: [2, 3], dtype: 'int64', data: Int32Array.from([0, 2, 1, 1, 0, 2]) };
    const input = tensor([2, 3, 3]);
    const one = { shape: [], dtype: 'float64' as const, data: Float64Array.of(1) };
    const opts = { label_smoothing: 0.1 };
    expectGradient('(N, C, d) input', input, crossEntropyBackward(one, input, spatial, opts), () => crossEntropy(input, spatial, opts).data[0]!);
  });

  it('batch_norm in training (affine and not) and in evaluation', () => {
    for (const affine of [true, false]) {
      const input = tensor([3, 2, 2, 3], -2, 2);
      const weight = affine ? tensor([2]) : null;
      const bias = affine ? tensor([2]) : null;
      const opts = { training: true, momentum: 0.1, eps: 1e-5 };
      const r = tensor([3, 2, 2, 3]);
      const loss = () => dot(batchNorm(input, null, null, weight, bias, opts).output, r);
      const grads = batchNormBackward(r, input, weight, opts, batchNorm(input, null, null, weight, bias, opts));
      expectGradient('input', input, grads.grad_input, loss);
      if (weight) expectGradient('weight', weight, grads.grad_weight, loss);
      if (bias) expectGradient('bias', bias, grads.grad_bias, loss);
    }
    const input = tensor([4, 3]);
    const weight = tensor([3]);
    const bias = tensor([3]);
    const mean = tensor([3]);
    const variance = tensor([3], 0.5, 2);
    const opts = { training: false, eps: 1e-3 };
    const r = tensor([4, 3]);
    const loss = () => dot(batchNorm(input, mean, variance, weight, bias, opts).output, r);
    const grads = batchNormBackward(r, input, weight, opts, batchNorm(input, mean, variance, weight, bias, opts));
    expectGradient('eval input', input, grads.grad_input, loss);
    expectGradient('eval weight', weight, grads.grad_weight, loss);
    expectGradient('eval bias', bias, grads.grad_bias, loss);
  });

  it('flatten and dropout (a fixed seed fixes the mask)', () => {
    const input = tensor([2, 3, 2]);
    const r = tensor([2, 6]);
    const opts = { start_dim: 1 };
    expectGradient('flatten', input, flattenBackward(r, input), () => dot(flatten(input, opts), r));
    const dropOpts = { p: 0.4, seed: 7 };
    const r2 = tensor([2, 3, 2]);
    const { mask } = dropout(input, dropOpts);
    expectGradient('dropout', input, dropoutBackward(r2, mask, dropOpts), () => dot(dropout(input, dropOpts).output, r2));
  });
});
