import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/nn/trainer.js';
import { Rng } from '../../src/nn/rng.js';
import type { FloatTensor, IntTensor } from '../../src/kernels/tensor.js';

const model = {
  layers: [
    { op: 'conv2d', name: 'conv1', in_channels: 2, out_channels: 3, kernel_size: 3, padding: 1 },
    { op: 'batch_norm', name: 'bn', num_features: 3 },
    { op: 'relu' },
    { op: 'max_pool2d', kernel_size: 2 },
    { op: 'conv2d', name: 'conv2', in_channels: 3, out_channels: 4, kernel_size: [3, 2], padding: 'same' },
    { op: 'relu' },
    { op: 'adaptive_avg_pool2d', output_size: 1 },
    { op: 'flatten' },
    { op: 'linear', name: 'fc', in_features: 4, out_features: 3 },
  ],
};

/** Pooling to a quarter and scattering back to where the maxima were, between two convolutions. */
const unpoolModel = {
  layers: [
    { op: 'conv2d', name: 'conv1', in_channels: 2, out_channels: 3, kernel_size: 3, padding: 1 },
    { op: 'max_pool2d', name: 'pool', kernel_size: 2 },
    { op: 'relu' },
    { op: 'max_unpool2d', indices_from: 'pool', kernel_size: 2 },
    { op: 'conv2d', name: 'conv2', in_channels: 3, out_channels: 4, kernel_size: [3, 2], padding: 'same' },
    { op: 'avg_pool2d', kernel_size: 3, stride: 2, padding: 1, ceil_mode: true },
    { op: 'flatten' },
    { op: 'linear', name: 'fc', in_features: 64, out_features: 3 },
  ],
};

describe('back-propagation through a whole model', () => {
  for (const [label, spec, count] of [
    ['conv, batch norm, max pool, global average pool, linear', model, 3 * 2 * 9 + 3 + 3 + 3 + 4 * 3 * 6 + 4 + 4 * 3 + 3],
    ['max pool and max unpool', unpoolModel, 3 * 2 * 9 + 3 + 4 * 3 * 6 + 4 + 64 * 3 + 3],
  ] as const) {
    it(`${label}: every parameter gradient matches central finite differences in float64`, () => {
      // lr = 0: the step computes gradients and leaves the parameters where they are.
      const trainer = new Trainer({ model: spec, inputShape: [2, 6, 6], optimizer: { name: 'SGD', lr: 0 }, dtype: 'float64', seed: 5 });
      const rng = new Rng(9);
      const input: FloatTensor = { shape: [3, 2, 6, 6], dtype: 'float64', data: Float64Array.from({ length: 216 }, () => rng.nextFloat32() * 2 - 1) };
      const target: IntTensor = { shape: [3], dtype: 'int64', data: Int32Array.from([2, 0, 1]) };
      trainer.trainStep(input, target);
      // Training mode: batch norm normalises with the batch's statistics, as in the step.
      const training = { training: true, nextSeed: () => 0 };
      const lossAt = () => trainer.loss.value(trainer.network.forward(input, training), target);

      const h = 1e-6;
      let checked = 0;
      for (const param of trainer.network.parameters) {
        const data = param.value.data;
        for (let i = 0; i < data.length; i++) {
          const saved = data[i]!;
          data[i] = saved + h;
          const up = lossAt();
          data[i] = saved - h;
          const down = lossAt();
          data[i] = saved;
          const numeric = (up - down) / (2 * h);
          const analytic = param.grad!.data[i]!;
          expect(Math.abs(numeric - analytic), `${param.name}[${i}]: ${analytic} vs ${numeric}`).toBeLessThanOrEqual(1e-7 + 1e-5 * Math.abs(analytic));
          checked++;
        }
      }
      expect(checked).toBe(count);
    });
  }
});
