/**
 * Convolution workloads B1 and B2 (float32, NCHW, single thread), forward, plus the backward of B2
 * (the first LeNet-5 layer's share of a training step). GFLOP/s counts a multiply-add as 2.
 */
import { conv2d, conv2dBackward, type ConvOptions } from '../src/kernels/layers/conv2d.js';
import { bytesOf, seedFor, seededFloat32, type Prepared, type Reference, type Workload } from './harness.js';

interface ConvCase {
  input: readonly number[];
  weight: readonly number[];
  opts: ConvOptions;
}

/** Multiply-adds of one forward (as 2 flops each): N · C_out · H_out · W_out · C_in/groups · kH · kW. */
function convFlops(output: readonly number[], weight: readonly number[]): number {
  const [n, cOut, h, w] = output as [number, number, number, number];
  const [, cIn, kH, kW] = weight as [number, number, number, number];
  return 2 * n * cOut * h * w * cIn * kH * kW;
}

function convWorkload(id: string, c: ConvCase, reference?: Reference): Workload {
  return {
    id,
    name: 'conv2d',
    shape: c.input,
    params: { out_channels: c.weight[0], kernel_size: c.weight.slice(2), ...c.opts },
    reference,
    prepare(): Prepared {
      const input = seededFloat32(c.input, seedFor(id));
      const weight = seededFloat32(c.weight, seedFor(`${id}/weight`));
      const bias = seededFloat32([c.weight[0]!], seedFor(`${id}/bias`));
      const output = conv2d(input, weight, bias, c.opts);
      return {
        run: () => conv2d(input, weight, bias, c.opts),
        bytes: bytesOf(input, weight, bias, output),
        flops: convFlops(output.shape, c.weight),
      };
    },
  };
}

/** Backward: grad_input, grad_weight and grad_bias; twice the forward's multiply-adds. */
function convBackwardWorkload(id: string, c: ConvCase, reference?: Reference): Workload {
  return {
    id,
    name: 'conv2d_backward',
    shape: c.input,
    params: { out_channels: c.weight[0], kernel_size: c.weight.slice(2), ...c.opts },
    reference,
    prepare(): Prepared {
      const input = seededFloat32(c.input, seedFor(id));
      const weight = seededFloat32(c.weight, seedFor(`${id}/weight`));
      const gradOutput = seededFloat32(conv2d(input, weight, null, c.opts).shape, seedFor(`${id}/grad_output`));
      const grads = conv2dBackward(gradOutput, input, weight, true, c.opts);
      return {
        run: () => conv2dBackward(gradOutput, input, weight, true, c.opts),
        bytes: bytesOf(gradOutput, input, weight, grads.grad_input, grads.grad_weight),
        flops: 2 * convFlops(gradOutput.shape, c.weight),
      };
    },
  };
}

const B1: ConvCase = { input: [32, 64, 56, 56], weight: [64, 64, 3, 3], opts: { padding: 1 } };
const B2: ConvCase = { input: [64, 1, 28, 28], weight: [6, 1, 5, 5], opts: {} };

export const layerWorkloads: readonly Workload[] = [
  convWorkload('B1', B1, { gflops: [115, 115] }),
  convWorkload('B2', B2),
  convBackwardWorkload('B2-bwd', B2),
];
