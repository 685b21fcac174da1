/**
 * Training workloads: one full training step (forward, cross_entropy, backward, optimizer step) on
 * a batch of 64, single thread, float32. Reported in images per second.
 *
 *   C1  LeNet-5 on [64, 1, 28, 28], SGD
 *   C2  the textbook CNN on [64, 3, 32, 32] (conv 3->32, 32->64, 64->64, 3x3 pad 1, relu; max-pool 2
 *       after the first two; global average pool; linear 64->10), Adam
 */
import type { FloatTensor, IntTensor } from '../src/kernels/tensor.js';
import { Trainer, type TrainerConfig } from '../src/nn/trainer.js';
import { lenet5, textbookCnn } from '../src/nn/zoo.js';
import { bytesOf, seedFor, seededFloat32, type Prepared, type Workload } from './harness.js';

const BATCH = 64;

function trainingWorkload(
  id: string,
  name: string,
  config: Omit<TrainerConfig, 'inputShape'>,
  inputShape: readonly number[],
  params: Record<string, unknown>,
  reference: Workload['reference'],
): Workload {
  const shape = [BATCH, ...inputShape];
  return {
    id,
    name,
    shape,
    params,
    reference,
    prepare(): Prepared {
      const trainer = new Trainer({ ...config, inputShape });
      const images = seededFloat32(shape, seedFor(id));
      const labels: IntTensor = { shape: [BATCH], dtype: 'int64', data: Int32Array.from({ length: BATCH }, (_, i) => (i * 7) % 10) };
      const parameters = trainer.network.parameters.map((p) => p.value);
      return {
        run: () => trainer.trainStep(images as FloatTensor, labels),
        // The batch is read once; every parameter is read and written back once.
        bytes: bytesOf(images, labels, ...parameters, ...parameters),
        images: BATCH,
      };
    },
  };
}

export const trainingWorkloads: Workload[] = [
  trainingWorkload(
    'C1',
    'lenet5_train_step',
    { model: lenet5(), optimizer: { name: 'SGD', lr: 0.01 } },
    [1, 28, 28],
    { model: 'lenet5', optimizer: 'SGD', lr: 0.01 },
    { images_per_s: [4800, 6700] },
  ),
  trainingWorkload(
    'C2',
    'textbook_cnn_train_step',
    { model: textbookCnn(), optimizer: { name: 'Adam', lr: 1e-3 } },
    [3, 32, 32],
    { model: 'conv 3-32-64-64, max-pool 2 x2, global avg pool, linear 64-10', optimizer: 'Adam', lr: 1e-3 },
    { images_per_s: [931, 931] },
  ),
];
