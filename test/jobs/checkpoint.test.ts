import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpoint } from '../../src/jobs/checkpoint.js';

describe('checkpoint files', () => {
  it('restore a nested state with typed arrays and non-finite numbers exactly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'convpool-ckpt-'));
    try {
      const state = {
        format: 'v1',
        epoch: 2,
        rng: [1, 4294967295, 0, 7],
        history: [{ epoch: 1, trainLoss: 0.1 + 0.2, test: { loss: NaN, accuracy: Infinity } }],
        tensors: { 'conv1.weight': { shape: [2], data: new Float32Array([0.1, -0]) } },
        optimizer: { state: { 'conv1.weight': { step: 3, exp_avg: new Float64Array([1e-300]), idx: new Int32Array([-1]) } } },
        nothing: null,
        negativeZero: -0,
      };
      const path = join(dir, 'checkpoint.safetensors');
      await writeCheckpoint(path, state);
      expect(await readCheckpoint(path)).toStrictEqual(state);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
