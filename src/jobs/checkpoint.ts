/**
 * Checkpoints of a training run, as one safetensors file: every typed array of the trainer's state
 * (parameters, buffers, optimizer moments) is a tensor named by its path in the state, and the
 * rest of the state is JSON in the `__metadata__` map. One file written atomically means a
 * checkpoint is always whole and self-consistent. Float data is stored bit for bit, so a resumed
 * run continues exactly as an uninterrupted one.
 */
import { readFile } from 'node:fs/promises';
import type { Tensor } from '../kernels/tensor.js';
import { writeFileAtomic, writeFileAtomicSync } from '../storage/atomic.js';
import { decodeSafetensors, encodeSafetensors } from '../storage/safetensors.js';

const STATE_KEY = 'convpool.state';
const TENSOR_REF = '$tensor';
const NUMBER_REF = '$number';

/** Splits a value into JSON (typed arrays replaced by references) and the tensors referred to. */
export function packState(value: unknown): { json: string; tensors: [string, Tensor][] } {
  const tensors: [string, Tensor][] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (v instanceof Float32Array) tensors.push([path, { shape: [v.length], dtype: 'float32', data: v }]);
    else if (v instanceof Float64Array) tensors.push([path, { shape: [v.length], dtype: 'float64', data: v }]);
    else if (v instanceof Int32Array) tensors.push([path, { shape: [v.length], dtype: 'int64', data: v }]);
    else if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0) ? v : { [NUMBER_REF]: String(v === 0 ? '-0' : v) };
    else if (Array.isArray(v)) return v.map((item, i) => walk(item, `${path}.${i}`));
    else if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([key, item]) => [key, walk(item, path ? `${path}.${key}` : key)]));
    } else return v;
    return { [TENSOR_REF]: path };
  };
  const json = JSON.stringify(walk(value, ''));
  return { json, tensors };
}

export function unpackState(json: string, tensors: ReadonlyMap<string, Tensor>): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const record = v as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && typeof record[TENSOR_REF] === 'string') {
      const tensor = tensors.get(record[TENSOR_REF]);
      if (!tensor) throw new Error(`checkpoint lacks tensor ${record[TENSOR_REF]}`);
      return tensor.data;
    }
    if (keys.length === 1 && typeof record[NUMBER_REF] === 'string') return record[NUMBER_REF] === '-0' ? -0 : Number(record[NUMBER_REF]);
    return Object.fromEntries(keys.map((key) => [key, walk(record[key])]));
  };
  return walk(JSON.parse(json));
}

export async function writeCheckpoint(path: string, state: unknown): Promise<void> {
  const { json, tensors } = packState(state);
  await writeFileAtomic(path, encodeSafetensors(tensors, { [STATE_KEY]: json }));
}

export function writeCheckpointSync(path: string, state: unknown): void {
  const { json, tensors } = packState(state);
  writeFileAtomicSync(path, encodeSafetensors(tensors, { [STATE_KEY]: json }));
}

export async function readCheckpoint(path: string): Promise<unknown> {
  const { tensors, metadata } = decodeSafetensors(await readFile(path));
  const json = metadata[STATE_KEY];
  if (json === undefined) throw new Error(`${path} is not a training checkpoint`);
  return unpackState(json, tensors);
}
