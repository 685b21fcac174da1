/**
 * Deterministic mode through the API: each train.json trajectory (PyTorch 1.13.1's torch.optim)
 * posted as a training job with its initial parameters, its batch as an inline dataset,
 * batch_size = N and shuffle false, so every epoch is one step on the same batch. The weights the
 * registry then serves must equal PyTorch's parameters after the last step, and each epoch's
 * training loss the loss PyTorch computed before that step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { decodeSafetensors } from '../../src/storage/safetensors.js';
import { loadGolden, type EncodedTensor } from '../helpers/golden.js';
import { appWithData, submitJob, tempDataDir, waitForJob } from './helpers.js';

interface NamedEncoded extends EncodedTensor {
  name: string;
}

const golden = loadGolden('train.json');
const models = golden.models as Record<string, { layers: unknown[] }>;

/** The README's tolerance for trained parameters: |a - b| <= 1e-6 + 1e-4 |b|. */
function expectParameters(name: string, actual: ArrayLike<number>, expected: readonly number[]) {
  expect(actual.length, name).toBe(expected.length);
  const bad = expected.findIndex((b, i) => !(Math.abs(actual[i]! - b) <= 1e-6 + 1e-4 * Math.abs(b)));
  expect(bad, bad < 0 ? name : `${name}[${bad}]: got ${actual[bad]}, expected ${expected[bad]}`).toBe(-1);
}

let app: FastifyInstance;
let data: Awaited<ReturnType<typeof tempDataDir>>;
beforeAll(async () => {
  data = await tempDataDir();
  app = await appWithData(data.dir);
});
afterAll(async () => {
  await app.close();
  await data.remove();
});

describe('train.json trajectories through POST /v1/training-jobs', () => {
  for (const c of golden.cases) {
    it(c.id, async () => {
      const input = c.input as EncodedTensor;
      const steps = c.steps as Array<{ loss: number; grads?: NamedEncoded[]; parameters_after?: NamedEncoded[] }>;
      const initial = c.initial_parameters as NamedEncoded[];
      const submitted = await submitJob(app, {
        model: { layers: models[c.model as string]!.layers, input_shape: input.shape.slice(1), initial_parameters: initial },
        dataset: { inputs: input, targets: c.target },
        optimizer: c.optimizer,
        loss: { label_smoothing: 0 },
        epochs: steps.length,
        batch_size: input.shape[0],
        shuffle: false,
        register_as: c.id,
      });
      const job = await waitForJob(app, submitted.id);
      expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
      expect(job.model).toEqual({ name: c.id, version: 1 });

      // One step per epoch: the epoch's mean training loss is that step's loss.
      expect(job.metrics.map((m: { epoch: number }) => m.epoch)).toEqual(steps.map((_, i) => i + 1));
      job.metrics.forEach((m: { train_loss: number }, i: number) => expect(Math.abs(m.train_loss - steps[i]!.loss)).toBeLessThanOrEqual(1e-5));

      const res = await app.inject({ method: 'GET', url: `/v1/models/${c.id}/versions/1/weights` });
      expect(res.statusCode).toBe(200);
      const { tensors } = decodeSafetensors(res.rawPayload);
      expect([...tensors.keys()]).toEqual(initial.map((p) => p.name));

      const last = steps.at(-1)!;
      const lr = (c.optimizer as { lr: number }).lr;
      const expected: NamedEncoded[] =
        last.parameters_after ??
        // Left out for LeNet-5's single plain SGD step: there it is p - lr * grad.
        initial.map((p, i) => ({ ...p, data: (p.data as number[]).map((v, j) => v - lr * (last.grads![i]!.data[j] as number)) }));
      for (const p of expected) {
        const t = tensors.get(p.name)!;
        expect([...t.shape]).toEqual(p.shape);
        expectParameters(p.name, t.data, p.data as number[]);
      }
    });
  }
});
