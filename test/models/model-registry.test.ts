import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/kernels/tensor.js';
import { isModelName, ModelRegistry } from '../../src/registry/model-registry.js';
import { decodeSafetensors } from '../../src/storage/safetensors.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'convpool-models-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const weight: Tensor = { shape: [2, 3], dtype: 'float32', data: new Float32Array([1, 2, 3, 4, 5, 6]) };
const bias: Tensor = { shape: [2], dtype: 'float32', data: new Float32Array([-1, 1]) };
const architecture = { input_shape: [3], layers: [{ op: 'linear', name: 'fc', in_features: 3, out_features: 2 }] };

describe('model registry', () => {
  it('numbers versions, writes model.json and safetensors, and reloads after a restart', async () => {
    const registry = new ModelRegistry(root);
    await registry.load();
    const [v1, v2] = await Promise.all([
      registry.register({ name: 'digits', architecture, parameters: [['fc.weight', weight], ['fc.bias', bias]], provenance: { source: 'import' } }),
      registry.register({ name: 'digits', architecture, parameters: [['fc.weight', weight], ['fc.bias', bias]], provenance: { source: 'training', job_id: 'job_1' } }),
    ]);
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(v1.parameters).toEqual([
      { name: 'fc.weight', shape: [2, 3], dtype: 'float32' },
      { name: 'fc.bias', shape: [2], dtype: 'float32' },
    ]);
    expect(v1.num_parameters).toBe(8);
    expect((await readdir(join(root, 'digits'))).sort()).toEqual(['1', '2']);
    expect((await readdir(join(root, 'digits', '1'))).sort()).toEqual(['model.json', 'model.safetensors']);

    const file = decodeSafetensors(await readFile(join(root, 'digits', '2', 'model.safetensors')));
    expect([...file.tensors.keys()]).toEqual(['fc.weight', 'fc.bias']);
    expect(file.metadata).toEqual({ format: 'pt' });

    const restarted = new ModelRegistry(root);
    await restarted.load();
    expect(restarted.list()).toEqual([{ name: 'digits', versions: [1, 2], latest: 2, updated_at: v2.created_at }]);
    expect(restarted.get('digits')).toEqual(v2);
    const params = await restarted.readParameters(v1);
    expect([...params.get('fc.weight')!.data]).toEqual([1, 2, 3, 4, 5, 6]);

    expect(await restarted.delete('digits', 2)).toBe(true);
    expect(restarted.get('digits')?.version).toBe(1);
    expect(await restarted.delete('digits', 2)).toBe(false);
    expect(await readdir(join(root, 'digits'))).toEqual(['1']);
  });

  it('drops staging leftovers on load', async () => {
    await mkdir(join(root, 'digits', '1.partial'), { recursive: true });
    const registry = new ModelRegistry(root);
    await registry.load();
    expect(registry.list()).toEqual([]);
    expect(await readdir(join(root, 'digits'))).toEqual([]);
  });

  it('accepts only names that are safe directory names', () => {
    expect(isModelName('mnist-cnn_v2.1')).toBe(true);
    for (const bad of ['', '../etc', '.hidden', 'a/b', 'x'.repeat(65), 'a b']) expect(isModelName(bad)).toBe(false);
  });
});
