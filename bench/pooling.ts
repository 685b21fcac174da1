/**
 * Pooling workloads A1–A4 (float32, NCHW, single thread) and the backward of A1 and A3.
 *
 * GB/s counts each tensor a call must touch once: the tensors it reads plus the tensors it writes,
 * at their storage size. Forward: input + output (+ indices, stored as int32). Backward: grad_output
 * (+ indices for max pooling) + grad_input; the forward input is passed for its shape only.
 * Overlapping windows re-read input from cache, which this deliberately does not count.
 */
import { adaptiveAvgPool2d, type AdaptiveOptions } from '../src/kernels/pooling/adaptive_pool.js';
import { avgPool2d, avgPool2dBackward, type AvgPoolOptions } from '../src/kernels/pooling/avg_pool.js';
import { maxPool2d, maxPool2dBackward, type MaxPoolOptions } from '../src/kernels/pooling/max_pool.js';
import type { FloatTensor } from '../src/kernels/tensor.js';
import { bytesOf, seedFor, seededFloat32, tensorsIn, type Prepared, type Reference, type Workload } from './harness.js';

/** A forward workload: times `forward(input)`; one untimed call learns the output sizes. */
function forwardWorkload(
  id: string,
  name: string,
  shape: readonly number[],
  params: object,
  forward: (input: FloatTensor) => unknown,
  reference?: Reference,
): Workload {
  return {
    id,
    name,
    shape,
    params: { ...params },
    reference,
    prepare(): Prepared {
      const input = seededFloat32(shape, seedFor(id));
      const written = tensorsIn(forward(input));
      return { run: () => forward(input), bytes: bytesOf(input, ...written) };
    },
  };
}

export function maxPool2dWorkload(id: string, shape: readonly number[], opts: MaxPoolOptions, reference?: Reference): Workload {
  return forwardWorkload(id, 'max_pool2d', shape, opts, (input) => maxPool2d(input, opts), reference);
}

export function avgPool2dWorkload(id: string, shape: readonly number[], opts: AvgPoolOptions, reference?: Reference): Workload {
  return forwardWorkload(id, 'avg_pool2d', shape, opts, (input) => avgPool2d(input, opts), reference);
}

export function adaptiveAvgPool2dWorkload(id: string, shape: readonly number[], opts: AdaptiveOptions, reference?: Reference): Workload {
  return forwardWorkload(id, 'adaptive_avg_pool2d', shape, opts, (input) => adaptiveAvgPool2d(input, opts), reference);
}

/** Times maxPool2dBackward; the forward (untimed) supplies the indices, grad_output is random. */
export function maxPool2dBackwardWorkload(id: string, shape: readonly number[], opts: MaxPoolOptions, reference?: Reference): Workload {
  return {
    id,
    name: 'max_pool2d_backward',
    shape,
    params: { ...opts },
    reference,
    prepare(): Prepared {
      const input = seededFloat32(shape, seedFor(id));
      const { output, indices } = maxPool2d(input, opts);
      if (!indices) throw new Error('max_pool2d returned no indices');
      const gradOutput = seededFloat32(output.shape, seedFor(`${id}/grad_output`));
      const gradInput = maxPool2dBackward(gradOutput, input, indices, opts);
      return { run: () => maxPool2dBackward(gradOutput, input, indices, opts), bytes: bytesOf(gradOutput, indices, gradInput) };
    },
  };
}

/** Times avgPool2dBackward; grad_output is random with the forward's output shape. */
export function avgPool2dBackwardWorkload(id: string, shape: readonly number[], opts: AvgPoolOptions, reference?: Reference): Workload {
  return {
    id,
    name: 'avg_pool2d_backward',
    shape,
    params: { ...opts },
    reference,
    prepare(): Prepared {
      const input = seededFloat32(shape, seedFor(id));
      const gradOutput = seededFloat32(avgPool2d(input, opts).shape, seedFor(`${id}/grad_output`));
      const gradInput = avgPool2dBackward(gradOutput, input, opts);
      return { run: () => avgPool2dBackward(gradOutput, input, opts), bytes: bytesOf(gradOutput, gradInput) };
    },
  };
}

const A1: MaxPoolOptions = { kernel_size: 3, stride: 2, padding: 1 };
const A3: AvgPoolOptions = { kernel_size: 3, stride: 1, padding: 1, count_include_pad: false };

/** The pooling workloads and PyTorch 1.13.1's single-thread times for them. */
export const poolingWorkloads: readonly Workload[] = [
  maxPool2dWorkload('A1', [32, 64, 112, 112], A1, { median_ms: [333, 356] }),
  maxPool2dWorkload('A2', [64, 32, 28, 28], { kernel_size: 2, stride: 2 }, { median_ms: [10.9, 11.4] }),
  avgPool2dWorkload('A3', [32, 64, 56, 56], A3, { median_ms: [90, 90] }),
  adaptiveAvgPool2dWorkload('A4', [64, 512, 7, 7], { output_size: 1 }, { median_ms: [0.47, 0.63] }),
  maxPool2dBackwardWorkload('A1-bwd', [32, 64, 112, 112], A1, { median_ms: [65, 65] }),
  avgPool2dBackwardWorkload('A3-bwd', [32, 64, 56, 56], A3, { median_ms: [78, 109] }),
];
