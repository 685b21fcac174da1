/**
 * A short real-data run: LeNet-5 learns MNIST digits. The full 5-epoch runs that reach 97% are
 * scripts/train-mnist.ts; this one trains one epoch on half the training set.
 */
import { describe, expect, it } from 'vitest';
import { loadGolden } from '../helpers/golden.js';
import { loadMnist, subset } from '../../src/nn/datasets.js';
import { Trainer, type EpochReport } from '../../src/nn/trainer.js';

const lenet5 = (loadGolden('train.json').models as Record<string, unknown>).lenet5;

describe('mnist', () => {
  it('LeNet-5 reaches 85% test accuracy after one epoch on 4,000 digits', async () => {
    const mnist = loadMnist();
    const trainer = new Trainer({
      model: lenet5,
      inputShape: mnist.inputShape,
      optimizer: { name: 'Adam', lr: 2e-3 },
      batchSize: 32,
      epochs: 1,
      seed: 1,
    });
    const epochs: EpochReport[] = [];
    await trainer.fit(subset(mnist.train, 4000), { test: subset(mnist.test, 1000), onEpoch: (e) => epochs.push(e) });
    const [epoch] = epochs;
    expect(epoch!.test!.count).toBe(1000);
    expect(epoch!.test!.accuracy).toBeGreaterThanOrEqual(0.85);
    expect(epoch!.test!.loss).toBeLessThan(0.6);
  }, 120_000);
});
