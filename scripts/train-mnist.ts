/**
 * Trains the textbook CNN and LeNet-5 on the built-in MNIST split (8,000 training, 2,000 test
 * digits) and prints the test accuracy after every epoch, then a Markdown table of the results.
 *
 * The recipe: pixels standardised with the training set's mean and deviation, Adam (lr 2e-3) on
 * batches of 8, the learning rate annealed along a cosine over the epochs (CosineAnnealingLR
 * stepped per epoch), cross_entropy with label_smoothing 0.1, PyTorch's default initialisation
 * from the seed.
 *
 *   npx tsx scripts/train-mnist.ts                     both models, 5 epochs
 *   npx tsx scripts/train-mnist.ts --model lenet5 --epochs 3
 */
import { parseArgs } from 'node:util';
import { loadMnist, normalize, pixelStats } from '../src/nn/datasets.js';
import { planModel, type ModelSpec } from '../src/nn/model.js';
import { Trainer, type EpochReport } from '../src/nn/trainer.js';
import { lenet5, textbookCnn } from '../src/nn/zoo.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'all' },
    epochs: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '8' },
    'label-smoothing': { type: 'string', default: '0.1' },
    lr: { type: 'string', default: '0.002' },
    seed: { type: 'string', default: '0' },
  },
});

const models: Record<string, ModelSpec> = { textbook_cnn: textbookCnn(1), lenet5: lenet5() };
const names = values.model === 'all' ? Object.keys(models) : [values.model];
const epochs = Number(values.epochs);
const batchSize = Number(values['batch-size']);
const lr = Number(values.lr);
const seed = Number(values.seed);
const labelSmoothing = Number(values['label-smoothing']);

const mnist = loadMnist();
const { mean, std } = pixelStats(mnist.train);
const train = normalize(mnist.train, mean, std);
const test = normalize(mnist.test, mean, std);
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const rows: string[] = [];

for (const name of names) {
  const model = models[name];
  if (!model) throw new Error(`unknown model ${name}; choose ${Object.keys(models).join(', ')} or all`);
  const plan = planModel(model, mnist.inputShape);
  console.log(
    `\n${name}: ${plan.parameterCount} parameters, Adam lr=${lr} with cosine annealing, batch ${batchSize}, ` +
      `label_smoothing ${labelSmoothing}, ${epochs} epochs, seed ${seed}`,
  );
  const trainer = new Trainer({
    model,
    inputShape: mnist.inputShape,
    optimizer: { name: 'Adam', lr },
    lrScheduler: { name: 'CosineAnnealingLR', T_max: epochs },
    loss: { label_smoothing: labelSmoothing },
    batchSize,
    epochs,
    seed,
  });
  const start = performance.now();
  let best: EpochReport | undefined;
  const result = await trainer.fit(train, {
    test,
    onEpoch: (e) => {
      const seconds = ((performance.now() - start) / 1000).toFixed(0);
      console.log(
        `  epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)} acc ${pct(e.trainAccuracy)} | ` +
          `test loss ${e.test!.loss.toFixed(4)} acc ${pct(e.test!.accuracy)} | ${seconds} s`,
      );
      if (!best || e.test!.accuracy > best.test!.accuracy) best = e;
    },
  });
  const last = result.history.at(-1)!;
  const seconds = (performance.now() - start) / 1000;
  const imagesPerSecond = (epochs * train.labels.shape[0]!) / seconds;
  rows.push(
    `| ${name} | ${plan.parameterCount} | ${epochs} | ${pct(last.test!.accuracy)} | ${last.test!.loss.toFixed(4)} | ` +
      `${pct(best!.test!.accuracy)} (epoch ${best!.epoch}) | ${seconds.toFixed(0)} s (${imagesPerSecond.toFixed(0)} images/s) |`,
  );
}

console.log('\n| model | parameters | epochs | test accuracy | test loss | best epoch | training time |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const row of rows) console.log(row);
