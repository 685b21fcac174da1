/**
 * Inference with a registered model, as a task of the compute worker pool: the worker reads the
 * version's weights from disk itself (only the input batch crosses threads), keeps a few built
 * networks for repeat calls, and returns the logits, softmax probabilities and arg-max classes.
 */
import { readFileSync } from 'node:fs';
import type { FloatTensor, Tensor } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';
import { softmax } from '../kernels/layers/softmax.js';
import { Network } from '../nn/network.js';
import { decodeSafetensors } from '../storage/safetensors.js';

export interface PredictTask {
  readonly kind: 'predict';
  /** `op` and `phase` label the task like an op task in the pool's metrics. */
  readonly op: 'predict';
  readonly phase: 'forward';
  readonly params: Readonly<Record<string, never>>;
  readonly tensors: { readonly input: Tensor };
  readonly model: {
    /** Identifies the exact weights (name, version, digest), so a cached network is never stale. */
    readonly key: string;
    readonly weightsPath: string;
    readonly layers: readonly unknown[];
    readonly inputShape: readonly number[];
  };
}

const CACHE_SIZE = 8;
const networks = new Map<string, Network>();

function networkFor(model: PredictTask['model']): Network {
  const cached = networks.get(model.key);
  if (cached) {
    // Re-insert to keep the most recently used last.
    networks.delete(model.key);
    networks.set(model.key, cached);
    return cached;
  }
  const { tensors } = decodeSafetensors(readFileSync(model.weightsPath));
  const network = Network.create({ layers: model.layers }, model.inputShape, { initialParameters: Object.fromEntries(tensors) });
  networks.set(model.key, network);
  if (networks.size > CACHE_SIZE) networks.delete(networks.keys().next().value!);
  return network;
}

export function runPredict(task: PredictTask): Record<string, Tensor> {
  const network = networkFor(task.model);
  let input = task.tensors.input as FloatTensor;
  if (input.dtype !== 'float32') {
    const data = allocate('float32', input.data.length);
    data.set(input.data);
    input = { shape: input.shape, dtype: 'float32', data };
  }
  const logits = network.forward(input, { training: false, nextSeed: () => 0 });
  const probabilities = softmax(logits, { dim: 1 });
  const [n, classes] = logits.shape as [number, number];
  const predictions = allocate('int64', n);
  for (let i = 0; i < n; i++) {
    // torch.argmax: the first maximum, and a NaN counts as the maximum.
    let best = 0;
    let bestValue = logits.data[i * classes]!;
    for (let c = 1; c < classes && !Number.isNaN(bestValue); c++) {
      const v = logits.data[i * classes + c]!;
      if (v > bestValue || Number.isNaN(v)) {
        best = c;
        bestValue = v;
      }
    }
    predictions[i] = best;
  }
  return { logits, probabilities, predictions: { shape: [n], dtype: 'int64', data: predictions } };
}
