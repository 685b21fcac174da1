/**
 * The training trajectories of train.json (PyTorch 1.13.1): given the initial parameters and the
 * batch, every step's loss, logits, gradients and updated parameters.
 */
import { describe, expect, it } from 'vitest';
import { decodeF32, decodeInt, loadGolden, type EncodedTensor } from '../helpers/golden.js';
import { Trainer } from '../../src/nn/trainer.js';
import type { FloatTensor, IntTensor } from '../../src/kernels/tensor.js';

interface NamedEncoded extends EncodedTensor {
  name: string;
}
interface GoldenStep {
  step: number;
  loss: number;
  logits: EncodedTensor;
  grads?: NamedEncoded[];
  parameters_after?: NamedEncoded[];
}

const train = loadGolden('train.json');
const models = train.models as Record<string, { layers: unknown[]; parameters: Array<{ name: string; shape: number[] }> }>;

/** Elementwise |a - b| <= atol + rtol * |b|, reporting the first element that is not. */
function expectWithin(label: string, actual: ArrayLike<number>, expected: readonly number[], atol: number, rtol: number) {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let bad = -1;
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= atol + rtol * Math.abs(expected[i]!))) {
      bad = i;
      break;
    }
  }
  expect(bad, bad < 0 ? label : `${label}[${bad}]: got ${actual[bad]}, expected ${expected[bad]}`).toBe(-1);
}

function trainerFor(c: (typeof train.cases)[number]) {
  const input = decodeF32(c.input as EncodedTensor) as FloatTensor;
  const target = decodeInt(c.target as EncodedTensor) as IntTensor;
  const initial = c.initial_parameters as NamedEncoded[];
  const trainer = new Trainer({
    model: models[c.model as string],
    inputShape: input.shape.slice(1),
    optimizer: c.optimizer as never,
    loss: c.loss as never,
    initialParameters: Object.fromEntries(initial.map((p) => [p.name, { shape: p.shape, data: p.data as number[] }])),
  });
  return { trainer, input, target, initial };
}

describe('train.json trajectories', () => {
  for (const c of train.cases) {
    it(c.id, () => {
      const { trainer, input, target, initial } = trainerFor(c);
      expect(trainer.network.parameters.map((p) => p.name)).toEqual(initial.map((p) => p.name));
      const lr = (c.optimizer as { lr: number }).lr;

      for (const step of c.steps as GoldenStep[]) {
        const before = trainer.network.parameters.map((p) => p.value.data.slice());
        const { loss, logits } = trainer.trainStep(input, target);
        expect(Math.abs(loss - step.loss), `step ${step.step} loss ${loss} vs ${step.loss}`).toBeLessThanOrEqual(1e-5);
        expect([...logits.shape]).toEqual(step.logits.shape);
        expectWithin(`step ${step.step} logits`, logits.data, step.logits.data as number[], 1e-5, 1e-4);

        if (step.grads) {
          step.grads.forEach((g, i) => {
            const param = trainer.network.parameters[i]!;
            expect(param.name).toBe(g.name);
            expectWithin(`step ${step.step} grad ${g.name}`, param.grad!.data, g.data as number[], 1e-5, 1e-4);
          });
        }
        // Without parameters_after (the LeNet case), SGD's update from the golden gradients is the reference.
        const after =
          step.parameters_after ??
          step.grads!.map((g, i) => ({
            ...g,
            data: (g.data as number[]).map((gv, j) => Math.fround(before[i]![j]! - Math.fround(lr) * gv)),
          }));
        after.forEach((p, i) => {
          expectWithin(`step ${step.step} ${p.name}`, trainer.network.parameters[i]!.value.data, p.data as number[], 1e-6, 1e-4);
        });
      }

      const finalLoss = trainer.loss.value(trainer.predict(input), target);
      expect(Math.abs(finalLoss - (c.final_loss as number)), `final loss ${finalLoss} vs ${c.final_loss}`).toBeLessThanOrEqual(1e-5);
    });
  }
});
