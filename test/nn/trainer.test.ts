import { describe, expect, it } from 'vitest';
import { Trainer, countCorrect, type BatchReport, type Dataset, type TrainerConfig } from '../../src/nn/trainer.js';
import { Rng } from '../../src/nn/rng.js';
import { ConfigError } from '../../src/nn/errors.js';
import type { FloatTensor } from '../../src/kernels/tensor.js';

/** Random images and labels from a seed, so tests need no files. */
function syntheticDataset(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const images = new Float32Array(n * 3 * 8 * 8);
  for (let i = 0; i < images.length; i++) images[i] = rng.nextFloat32() * 2 - 1;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = rng.nextInt(3);
  return { images: { shape: [n, 3, 8, 8], dtype: 'float32', data: images }, labels: { shape: [n], dtype: 'int64', data: labels } };
}

/** Every kind of state a run carries: batch norm statistics, dropout masks, shuffling, momentum. */
const model = {
  layers: [
    { op: 'conv2d', name: 'conv', in_channels: 3, out_channels: 4, kernel_size: 3, padding: 1 },
    { op: 'batch_norm', name: 'bn', num_features: 4 },
    { op: 'relu' },
    { op: 'max_pool2d', kernel_size: 2 },
    { op: 'dropout', p: 0.25 },
    { op: 'adaptive_avg_pool2d', output_size: 1 },
    { op: 'flatten' },
    { op: 'linear', name: 'fc', in_features: 4, out_features: 3 },
  ],
};

const train = syntheticDataset(20, 1);
const test = syntheticDataset(7, 2);

function config(overrides: Partial<TrainerConfig> = {}): TrainerConfig {
  return {
    model,
    inputShape: [3, 8, 8],
    optimizer: { name: 'SGD', lr: 0.1, momentum: 0.9, weight_decay: 1e-3 },
    lrScheduler: { name: 'StepLR', step_size: 1, gamma: 0.5 },
    batchSize: 6,
    epochs: 3,
    seed: 11,
    ...overrides,
  };
}

function snapshot(trainer: Trainer) {
  return trainer.network.stateTensors();
}

async function uninterrupted(cfg: TrainerConfig) {
  const trainer = new Trainer(cfg);
  const batches: BatchReport[] = [];
  const result = await trainer.fit(train, { test, onBatch: (b) => batches.push(b) });
  return { trainer, batches, result };
}

describe('save and restore', () => {
  for (const [label, stopAfter] of [
    ['in the middle of an epoch', 5],
    ['at an epoch boundary', 4],
  ] as const) {
    for (const optimizer of [config().optimizer, { name: 'Adam', lr: 0.01 } as const]) {
      it(`${label} (${optimizer.name}): the resumed run is bit-identical to an uninterrupted one`, async () => {
        const cfg = config({ optimizer });
        const reference = await uninterrupted(cfg);

        const first = new Trainer(cfg);
        const batches: BatchReport[] = [];
        const stopped = await first.fit(train, {
          test,
          onBatch: (b) => batches.push(b),
          shouldStop: () => batches.length >= stopAfter,
        });
        expect(stopped.stopped).toBe(true);
        expect(stopped.step).toBe(stopAfter);
        // What a job store would keep: a structured clone, detached from the live trainer.
        const state = structuredClone(first.getState());
        first.trainStep(
          { ...train.images, shape: [1, 3, 8, 8], data: train.images.data.slice(0, 192) } as FloatTensor,
          { ...train.labels, shape: [1], data: train.labels.data.slice(0, 1) },
        );

        const resumed = Trainer.restore(cfg, state);
        const result = await resumed.fit(train, { test, onBatch: (b) => batches.push(b) });
        expect(result.stopped).toBe(false);
        expect(batches).toEqual(reference.batches);
        expect(result.history).toEqual(reference.result.history);
        expect(snapshot(resumed)).toEqual(snapshot(reference.trainer));
        expect(resumed.getState().optimizer).toEqual(reference.trainer.getState().optimizer);
        expect(resumed.getState().rng).toEqual(reference.trainer.getState().rng);
      });
    }
  }

  it('rejects a state for another model', async () => {
    const state = new Trainer(config()).getState();
    const other = { ...model, layers: model.layers.map((l) => (l.op === 'linear' ? { ...l, name: 'head' } : l)) };
    expect(() => Trainer.restore(config({ model: other }), state)).toThrow(ConfigError);
  });
});

describe('fit', () => {
  it('reports every batch and epoch, and evaluates the test set after each epoch', async () => {
    const epochs: number[] = [];
    const { batches, result } = await uninterrupted(config());
    const trainer = new Trainer(config());
    await trainer.fit(train, { test, onEpoch: (e) => epochs.push(e.epoch) });
    expect(epochs).toEqual([1, 2, 3]);
    expect(batches.map((b) => `${b.epoch}.${b.batch}/${b.batches}`)).toEqual(
      ['1', '2', '3'].flatMap((e) => [1, 2, 3, 4].map((b) => `${e}.${b}/4`)),
    );
    expect(batches.map((b) => b.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(result.history).toHaveLength(3);
    for (const e of result.history) {
      expect(e.test!.count).toBe(7);
      expect(e.trainLoss).toBeGreaterThan(0);
    }
    // The epoch's training loss is the size-weighted mean of its batch losses (the last batch has 2).
    const firstEpoch = batches.slice(0, 4);
    const weighted = firstEpoch.reduce((s, b, i) => s + b.loss * (i < 3 ? 6 : 2), 0) / 20;
    expect(result.history[0]!.trainLoss).toBeCloseTo(weighted, 12);
  });

  it('without shuffling trains the batches in dataset order, as trainStep on consecutive slices', async () => {
    const cfg = config({ model: { layers: model.layers.filter((l) => l.op !== 'dropout') }, shuffle: false, epochs: 1, batchSize: 10 });
    const fitted = new Trainer(cfg);
    await fitted.fit(train);
    const manual = new Trainer(cfg);
    for (const start of [0, 10]) {
      manual.trainStep(
        { shape: [10, 3, 8, 8], dtype: 'float32', data: train.images.data.slice(start * 192, (start + 10) * 192) },
        { shape: [10], dtype: 'int64', data: train.labels.data.slice(start, start + 10) },
      );
    }
    expect(snapshot(fitted)).toEqual(snapshot(manual));
  });

  it('the seed decides initialisation and order: same seed, same run; another seed, another run', async () => {
    const a = await uninterrupted(config());
    const b = await uninterrupted(config());
    const c = await uninterrupted(config({ seed: 12 }));
    expect(snapshot(b.trainer)).toEqual(snapshot(a.trainer));
    expect(snapshot(c.trainer)).not.toEqual(snapshot(a.trainer));
  });

  it('dropLast skips the short last batch', async () => {
    const batches: BatchReport[] = [];
    await new Trainer(config({ dropLast: true, epochs: 1 })).fit(train, { onBatch: (b) => batches.push(b) });
    expect(batches.map((b) => b.batches)).toEqual([3, 3, 3]);
  });

  it('a stop request before the first batch trains nothing', async () => {
    const trainer = new Trainer(config());
    const before = snapshot(trainer);
    const result = await trainer.fit(train, { shouldStop: () => true });
    expect(result).toMatchObject({ stopped: true, epoch: 0, step: 0 });
    expect(snapshot(trainer)).toEqual(before);
  });

  it('rejects a dataset of the wrong shape', async () => {
    const wrong = { ...train, images: { ...train.images, shape: [20, 3, 4, 16] } } as Dataset;
    await expect(new Trainer(config()).fit(wrong)).rejects.toThrow('training images must be [N, 3, 8, 8], got [20, 3, 4, 16]');
  });
});

describe('learning-rate schedules', () => {
  it('set the optimizer lr at the start of every epoch, from the closed forms', async () => {
    const lrs = async (lrScheduler: TrainerConfig['lrScheduler']) => {
      const trainer = new Trainer(config({ lrScheduler, epochs: 5, batchSize: 20 }));
      const seen: number[] = [];
      await trainer.fit(train, { onBatch: () => seen.push(trainer.optimizer.lr) });
      return seen;
    };
    expect(await lrs(undefined)).toEqual([0.1, 0.1, 0.1, 0.1, 0.1]);
    const close = (actual: number[], expected: number[]) => actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i]!, 15));
    close(await lrs({ name: 'StepLR', step_size: 2 }), [0.1, 0.1, 0.01, 0.01, 0.001]);
    expect(await lrs({ name: 'ExponentialLR', gamma: 0.5 })).toEqual([0.1, 0.05, 0.025, 0.0125, 0.00625]);
    const cosine = await lrs({ name: 'CosineAnnealingLR', T_max: 4, eta_min: 0.02 });
    expect(cosine[0]).toBe(0.1);
    expect(cosine[2]).toBeCloseTo(0.06, 15);
    expect(cosine[4]).toBeCloseTo(0.02, 15);
  });

  it('rejects unknown schedules and arguments', () => {
    expect(() => new Trainer(config({ lrScheduler: { name: 'OneCycleLR' } as never }))).toThrow(ConfigError);
    expect(() => new Trainer(config({ lrScheduler: { name: 'StepLR', step_size: 0 } }))).toThrow("StepLR 'step_size' must be a positive integer");
  });
});

describe('evaluate', () => {
  it('gives the same loss and accuracy whatever the evaluation batch size', () => {
    const small = new Trainer(config({ evalBatchSize: 3 })).evaluate(train);
    const large = new Trainer(config({ evalBatchSize: 100 })).evaluate(train);
    expect(small.count).toBe(20);
    expect(small.accuracy).toBe(large.accuracy);
    expect(small.loss).toBeCloseTo(large.loss, 5);
  });

  it('accuracy counts rows whose largest logit is the label', () => {
    const trainer = new Trainer(config());
    const logits = trainer.predict(test.images);
    expect(trainer.evaluate(test).accuracy).toBe(countCorrect(logits, test.labels) / 7);
    const fixed = { shape: [3, 3], dtype: 'float32', data: Float32Array.from([1, 2, 0, 5, 5, 1, 0, 0, 9]) } as FloatTensor;
    expect(countCorrect(fixed, { shape: [3], dtype: 'int64', data: Int32Array.from([1, 1, 2]) })).toBe(2);
  });
});

describe('configuration', () => {
  it('rejects bad training options with a ConfigError', () => {
    expect(() => new Trainer(config({ batchSize: 0 }))).toThrow(new ConfigError('batchSize must be an integer >= 1, got 0'));
    expect(() => new Trainer(config({ optimizer: { name: 'SGD', lr: -1 } }))).toThrow(new ConfigError('Invalid learning rate: -1.0'));
    expect(() => new Trainer(config({ loss: { label_smoothing: 2 } }))).toThrow(ConfigError);
  });

  it('takes explicit initial parameters by name and draws the others', () => {
    const weight = { shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => i / 10) };
    const trainer = new Trainer(config({ initialParameters: { 'fc.weight': weight } }));
    const seeded = new Trainer(config());
    const given = trainer.network.stateTensors();
    const drawn = seeded.network.stateTensors();
    expect([...given['fc.weight']!.data]).toEqual(weight.data.map(Math.fround));
    expect(given['conv.weight']).toEqual(drawn['conv.weight']);
    expect(() => new Trainer(config({ initialParameters: { 'fc.weights': weight } }))).toThrow(ConfigError);
    expect(() => new Trainer(config({ initialParameters: { 'fc.bias': weight } }))).toThrow(
      "parameter 'fc.bias' has shape [3], got [3, 4] with 12 values",
    );
  });
});
