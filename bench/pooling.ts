/**
 * Pooling workloads A1–A4 (float32, NCHW, single thread) and the backward of A1 and A3.
 *
 * GB/s counts each tensor a call must touch once: the tensors it reads plus the tensors it writes,
 * at their storage size. Forward: input + output (+ indices, stored as int32). Backward: grad_output
 * (+ indices for max pooling) + grad_input; the forward input is passed for its shape only.
 * Overlapping windows re-read input from cache, which this deliberately does not count.
 */
import type { FloatTensor, Tensor } from '../src/kernels/tensor.js';
import { bytesOf, isTensor, seedFor, seededFloat32, tensorsIn, type Prepared, type Reference, type Workload } from './harness.js';

type Params = Readonly<Record<string, unknown>>;
type Forward = (input: FloatTensor, params: Params) => unknown;
type MaxPoolBackward = (gradOutput: FloatTensor, input: FloatTensor, indices: Tensor, params: Params) => unknown;
type AvgPoolBackward = (gradOutput: FloatTensor, input: FloatTensor, params: Params) => unknown;

const kernelModules = {
  max_pool: () => import('../src/kernels/pooling/max_pool.js'),
  avg_pool: () => import('../src/kernels/pooling/avg_pool.js'),
  adaptive_pool: () => import('../src/kernels/pooling/adaptive_pool.js'),
};

/** Looks a kernel function up at run time, so the harness runs while kernels are still being written. */
async function kernel<F>(module: keyof typeof kernelModules, name: string): Promise<F> {
  const exports = (await kernelModules[module]()) as unknown as Record<string, unknown>;
  const fn = exports[name];
  if (typeof fn !== 'function') throw new Error(`src/kernels/pooling/${module}.ts does not export ${name}`);
  return fn as F;
}

/** The output tensor of a forward that returns either a tensor or `{ output, indices }`. */
function outputOf(result: unknown): FloatTensor {
  if (isTensor(result)) return result as FloatTensor;
  const output = (result as { output?: unknown } | null)?.output;
  if (!isTensor(output)) throw new Error('forward returned no output tensor');
  return output as FloatTensor;
}

function indicesOf(result: unknown): Tensor {
  const indices = (result as { indices?: unknown } | null)?.indices;
  if (!isTensor(indices)) throw new Error('max_pool2d returned no indices');
  return indices;
}

/** A forward workload: times `fn(input, params)`; one untimed call learns the output sizes. */
function forwardWorkload(
  id: string,
  name: string,
  shape: readonly number[],
  params: Params,
  load: () => Promise<Forward>,
  reference?: Reference,
): Workload {
  return {
    id,
    name,
    shape,
    params,
    reference,
    async prepare(): Promise<Prepared> {
      const fn = await load();
      const input = seededFloat32(shape, seedFor(id));
      const written = tensorsIn(fn(input, params));
      return { run: () => fn(input, params), bytes: bytesOf(input, ...written) };
    },
  };
}

export function maxPool2dWorkload(id: string, shape: readonly number[], params: Params, reference?: Reference): Workload {
  return forwardWorkload(id, 'max_pool2d', shape, params, () => kernel<Forward>('max_pool', 'maxPool2d'), reference);
}

export function avgPool2dWorkload(id: string, shape: readonly number[], params: Params, reference?: Reference): Workload {
  return forwardWorkload(id, 'avg_pool2d', shape, params, () => kernel<Forward>('avg_pool', 'avgPool2d'), reference);
}

export function adaptiveAvgPool2dWorkload(id: string, shape: readonly number[], params: Params, reference?: Reference): Workload {
  return forwardWorkload(
    id,
    'adaptive_avg_pool2d',
    shape,
    params,
    () => kernel<Forward>('adaptive_pool', 'adaptiveAvgPool2d'),
    reference,
  );
}

/** Times maxPool2dBackward; the forward (untimed) supplies the indices, grad_output is random. */
export function maxPool2dBackwardWorkload(id: string, shape: readonly number[], params: Params, reference?: Reference): Workload {
  return {
    id,
    name: 'max_pool2d_backward',
    shape,
    params,
    reference,
    async prepare(): Promise<Prepared> {
      const forward = await kernel<Forward>('max_pool', 'maxPool2d');
      const backward = await kernel<MaxPoolBackward>('max_pool', 'maxPool2dBackward');
      const input = seededFloat32(shape, seedFor(id));
      const result = forward(input, params);
      const indices = indicesOf(result);
      const gradOutput = seededFloat32(outputOf(result).shape, seedFor(`${id}/grad_output`));
      const written = tensorsIn(backward(gradOutput, input, indices, params));
      return { run: () => backward(gradOutput, input, indices, params), bytes: bytesOf(gradOutput, indices, ...written) };
    },
  };
}

/** Times avgPool2dBackward; grad_output is random with the forward's output shape. */
export function avgPool2dBackwardWorkload(id: string, shape: readonly number[], params: Params, reference?: Reference): Workload {
  return {
    id,
    name: 'avg_pool2d_backward',
    shape,
    params,
    reference,
    async prepare(): Promise<Prepared> {
      const forward = await kernel<Forward>('avg_pool', 'avgPool2d');
      const backward = await kernel<AvgPoolBackward>('avg_pool', 'avgPool2dBackward');
      const input = seededFloat32(shape, seedFor(id));
      const gradOutput = seededFloat32(outputOf(forward(input, params)).shape, seedFor(`${id}/grad_output`));
      const written = tensorsIn(backward(gradOutput, input, params));
      return { run: () => backward(gradOutput, input, params), bytes: bytesOf(gradOutput, ...written) };
    },
  };
}

const A1 = { kernel_size: 3, stride: 2, padding: 1 };
const A3 = { kernel_size: 3, stride: 1, padding: 1, count_include_pad: false };

/** The pooling workloads and PyTorch 1.13.1's single-thread times for them. */
export const poolingWorkloads: readonly Workload[] = [
  maxPool2dWorkload('A1', [32, 64, 112, 112], A1, { median_ms: [333, 356] }),
  maxPool2dWorkload('A2', [64, 32, 28, 28], { kernel_size: 2, stride: 2 }, { median_ms: [10.9, 11.4] }),
  avgPool2dWorkload('A3', [32, 64, 56, 56], A3, { median_ms: [90, 90] }),
  adaptiveAvgPool2dWorkload('A4', [64, 512, 7, 7], { output_size: 1 }, { median_ms: [0.47, 0.63] }),
  maxPool2dBackwardWorkload('A1-bwd', [32, 64, 112, 112], A1, { median_ms: [65, 65] }),
  avgPool2dBackwardWorkload('A3-bwd', [32, 64, 56, 56], A3, { median_ms: [78, 109] }),
];
