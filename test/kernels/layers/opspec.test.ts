/** The layer ops as the registry exposes them: plan agrees with forward, backward returns the gradients. */
import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../../src/kernels/errors.js';
import { layerOps } from '../../../src/kernels/layers/index.js';
import { ops } from '../../../src/kernels/registry.js';
import type { Tensor } from '../../../src/kernels/tensor.js';

const op = (name: string) => layerOps.find((o) => o.name === name)!;

function floats(shape: number[], start = 0): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, dtype: 'float32', data: Float32Array.from({ length: n }, (_, i) => Math.sin(i + start)) };
}

const calls: { name: string; tensors: Record<string, Tensor>; params: Record<string, unknown> }[] = [
  { name: 'conv1d', tensors: { input: floats([2, 3, 8]), weight: floats([4, 3, 3]), bias: floats([4]) }, params: { padding: 'same' } },
  { name: 'conv2d', tensors: { input: floats([2, 3, 6, 6]), weight: floats([4, 3, 3, 3]) }, params: { stride: 2, padding: 1 } },
  {
    name: 'conv_transpose2d',
    tensors: { input: floats([1, 4, 3, 3]), weight: floats([4, 2, 3, 3]), bias: floats([4]) },
    params: { stride: 2, groups: 2, output_padding: 1 },
  },
  { name: 'linear', tensors: { input: floats([3, 5]), weight: floats([2, 5]), bias: floats([2]) }, params: {} },
  { name: 'relu', tensors: { input: floats([2, 3]) }, params: {} },
  { name: 'softmax', tensors: { input: floats([2, 3]) }, params: { dim: -1 } },
  { name: 'log_softmax', tensors: { input: floats([2, 3, 2]) }, params: {} },
  {
    name: 'cross_entropy',
    tensors: { input: floats([3, 4]), target: { shape: [3], dtype: 'int64', data: Int32Array.from([0, 3, 1]) }, weight: floats([4], 5) },
    params: { reduction: 'none', label_smoothing: 0.1 },
  },
  {
    name: 'batch_norm',
    tensors: { input: floats([2, 3, 2, 2]), running_mean: floats([3]), running_var: floats([3], 2), weight: floats([3]), bias: floats([3]) },
    params: { training: true },
  },
  { name: 'flatten', tensors: { input: floats([2, 3, 2]) }, params: { start_dim: 1 } },
  { name: 'dropout', tensors: { input: floats([4, 4]) }, params: { p: 0.25, seed: 3 } },
];

describe('layer OpSpecs', () => {
  it('are all in the registry', () => {
    for (const name of ['conv1d', 'conv2d', 'conv_transpose2d', 'linear', 'relu', 'softmax', 'log_softmax', 'cross_entropy', 'batch_norm', 'flatten', 'dropout']) {
      expect(ops.get(name), name).toBeDefined();
    }
  });

  for (const call of calls) {
    it(`${call.name}: plan shapes match forward, backward gives every gradient that exists`, () => {
      const spec = op(call.name);
      const shapes = Object.fromEntries(Object.entries(call.tensors).map(([k, t]) => [k, t.shape]));
      const plan = spec.plan(shapes, call.params);
      expect(plan.work).toBeGreaterThan(0);
      const result = spec.forward(call.tensors, call.params);
      for (const [name, shape] of Object.entries(plan.outputs)) expect([...result[name]!.shape], name).toEqual([...shape]);
      const gradOutput = floats([...result.output!.shape], 1);
      const grads = spec.backward!({ ...call.tensors, grad_output: gradOutput }, call.params);
      expect([...grads.grad_input!.shape]).toEqual([...call.tensors.input!.shape]);
      for (const name of Object.keys(grads)) expect(spec.gradients).toContain(name);
      if (call.tensors.weight && spec.gradients.includes('grad_weight')) expect(grads.grad_weight).toBeDefined();
      if (call.tensors.bias) expect(grads.grad_bias).toBeDefined();
      else expect(grads.grad_bias).toBeUndefined();
    });
  }

  it('rejects arguments of the wrong Python type with a TypeError', () => {
    const shapes = { input: [1, 3, 5, 5], weight: [2, 3, 3, 3] };
    const cases: [Record<string, unknown>, string][] = [
      [{ stride: 1.5 }, "conv2d(): argument 'stride' must be tuple of ints, not float"],
      [{ stride: [1, '2'] }, "conv2d(): argument 'stride' must be tuple of ints, but found element of type str at pos 1"],
      [{ groups: true }, "conv2d(): argument 'groups' must be int, not bool"],
      [{ kernel_size: 3 }, "conv2d() got an unexpected keyword argument 'kernel_size'"],
    ];
    for (const [params, message] of cases) {
      let error: unknown;
      try {
        op('conv2d').plan(shapes, params);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(KernelArgumentError);
      expect((error as KernelArgumentError).pythonType).toBe('TypeError');
      expect((error as KernelArgumentError).message).toBe(message);
    }
  });

  it('dropout backward regenerates the forward mask from the seed', () => {
    const spec = op('dropout');
    const input = floats([3, 5], 1); // no zero inputs, so a zero output means a dropped element
    const params = { p: 0.5, seed: 11 };
    const output = spec.forward({ input }, params).output!;
    const ones: Tensor = { shape: [3, 5], dtype: 'float32', data: new Float32Array(15).fill(1) };
    const grad = spec.backward!({ input, grad_output: ones }, params).grad_input!;
    for (let i = 0; i < 15; i++) expect(grad.data[i] === 0).toBe(output.data[i] === 0);
  });
});
