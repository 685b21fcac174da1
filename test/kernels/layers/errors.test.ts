/** Every errors.json case of the layer ops: PyTorch's exception class and message, verbatim. */
import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../../src/kernels/errors.js';
import { layerOps } from '../../../src/kernels/layers/index.js';
import type { Tensor } from '../../../src/kernels/tensor.js';
import { loadGolden, type EncodedTensor } from '../../helpers/golden.js';

const ops = new Map(layerOps.map((op) => [op.name, op]));

/** Shape checks run in plan (no data); a data-dependent check (target out of bounds) in forward. */
function failure(fn: string, c: Record<string, unknown>): unknown {
  const op = ops.get(fn)!;
  const shapes: Record<string, number[]> = { input: c.input_shape as number[] };
  const tensors: Record<string, Tensor> = {};
  const shapeFields: Record<string, string> = {
    weight: 'weight_shape',
    bias: 'bias_shape',
    running_mean: 'running_mean_shape',
    running_var: 'running_var_shape',
  };
  for (const [name, field] of Object.entries(shapeFields)) if (c[field]) shapes[name] = c[field] as number[];
  const target = c.target as EncodedTensor | undefined;
  if (target) {
    shapes.target = target.shape;
    tensors.target = { shape: target.shape, dtype: 'int64', data: Int32Array.from(target.data as number[]) };
  }
  const params = c.params as Record<string, unknown>;
  try {
    op.plan(shapes, params);
  } catch (error) {
    return error;
  }
  for (const [name, shape] of Object.entries(shapes)) {
    if (name !== 'target') tensors[name] = { shape, dtype: 'float32', data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
  }
  try {
    op.forward(tensors, params);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('layer argument errors (errors.json)', () => {
  const cases = loadGolden('errors.json').cases.filter((c) => ops.has(c.fn));
  it('covers every case of the layer ops', () => {
    expect(cases.length).toBe(32);
  });
  for (const c of cases) {
    it(c.id, () => {
      const error = failure(c.fn, c);
      expect(error).toBeInstanceOf(KernelArgumentError);
      expect((error as KernelArgumentError).message).toBe(c.message);
      expect((error as KernelArgumentError).pythonType).toBe(c.error);
    });
  }
});
