/**
 * Layers: each wraps its kernel's forward and backward, and keeps from a training forward exactly
 * what its backward needs (the input, max-pool indices, a dropout mask, batch statistics).
 */
import type { FloatTensor, IntTensor } from '../kernels/tensor.js';
import { conv1d, conv1dBackward } from '../kernels/layers/conv1d.js';
import { conv2d, conv2dBackward, conv2dWeightBackward } from '../kernels/layers/conv2d.js';
import { linear, linearBackward } from '../kernels/layers/linear.js';
import { relu, reluBackward } from '../kernels/layers/relu.js';
import { flatten } from '../kernels/layers/flatten.js';
import { dropout, dropoutBackward } from '../kernels/layers/dropout.js';
import { batchNorm, batchNormBackward } from '../kernels/layers/batch_norm.js';
import * as maxPool from '../kernels/pooling/max_pool.js';
import * as avgPool from '../kernels/pooling/avg_pool.js';
import * as lpPool from '../kernels/pooling/lp_pool.js';
import * as adaptivePool from '../kernels/pooling/adaptive_pool.js';
import * as maxUnpool from '../kernels/pooling/max_unpool.js';
import type { LayerPlan } from './model.js';
import type { Buffer, Parameter } from './parameter.js';

export interface ForwardContext {
  /** Training mode: dropout active, batch norm on batch statistics, inputs kept for backward. */
  readonly training: boolean;
  /** A fresh seed for a dropout mask, drawn from the trainer's generator. */
  nextSeed(): number;
}

export abstract class Layer {
  readonly parameters: Parameter[] = [];
  readonly buffers: Buffer[] = [];

  constructor(readonly plan: LayerPlan) {}

  abstract forward(input: FloatTensor, ctx: ForwardContext): FloatTensor;

  /**
   * Sets the gradients of this layer's parameters and returns the gradient of its input.
   * `inputGradNeeded` is false for the first layer, whose input is data: a layer may then skip
   * computing it and return null.
   */
  abstract backward(gradOutput: FloatTensor, inputGradNeeded?: boolean): FloatTensor | null;

  protected missingForward(): never {
    throw new Error(`layer ${this.plan.index} (${this.plan.op}): backward needs a training forward first`);
  }

  protected param(suffix: string): Parameter | undefined {
    return this.parameters.find((p) => p.name === `${this.plan.name}.${suffix}`);
  }
}

type Conv = (input: FloatTensor, weight: FloatTensor, bias: FloatTensor | null, opts: never) => FloatTensor;
type ConvWeightBackward = (
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
  opts: never,
) => { grad_weight: FloatTensor; grad_bias?: FloatTensor };
type ConvBackward = (
  gradOutput: FloatTensor,
  input: FloatTensor,
  weight: FloatTensor,
  hasBias: boolean,
  opts: never,
) => { grad_input: FloatTensor; grad_weight: FloatTensor; grad_bias?: FloatTensor };

class ConvLayer extends Layer {
  private input: FloatTensor | null = null;

  constructor(
    plan: LayerPlan,
    private readonly conv: Conv,
    private readonly convBackward: ConvBackward,
    private readonly convWeightBackward: ConvWeightBackward | null = null,
  ) {
    super(plan);
  }

  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    this.input = ctx.training ? input : null;
    return this.conv(input, this.param('weight')!.value, this.param('bias')?.value ?? null, this.plan.kernelParams as never);
  }

  backward(gradOutput: FloatTensor, inputGradNeeded = true): FloatTensor | null {
    const input = this.input ?? this.missingForward();
    const weight = this.param('weight')!;
    const bias = this.param('bias');
    const args = [gradOutput, input, weight.value, bias !== undefined, this.plan.kernelParams as never] as const;
    // A first layer's grad_input (col2im over the whole batch) is a large share of a small model's step.
    const grads = !inputGradNeeded && this.convWeightBackward ? this.convWeightBackward(...args) : this.convBackward(...args);
    weight.grad = grads.grad_weight;
    if (bias) bias.grad = grads.grad_bias ?? null;
    this.input = null;
    return 'grad_input' in grads ? (grads.grad_input as FloatTensor) : null;
  }
}

class LinearLayer extends Layer {
  private input: FloatTensor | null = null;

  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    this.input = ctx.training ? input : null;
    return linear(input, this.param('weight')!.value, this.param('bias')?.value ?? null);
  }

  backward(gradOutput: FloatTensor): FloatTensor {
    const input = this.input ?? this.missingForward();
    const weight = this.param('weight')!;
    const bias = this.param('bias');
    const grads = linearBackward(gradOutput, input, weight.value, bias !== undefined);
    weight.grad = grads.grad_weight;
    if (bias) bias.grad = grads.grad_bias ?? null;
    this.input = null;
    return grads.grad_input;
  }
}

class ReluLayer extends Layer {
  private input: FloatTensor | null = null;

  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    this.input = ctx.training ? input : null;
    return relu(input);
  }

  backward(gradOutput: FloatTensor): FloatTensor {
    const input = this.input ?? this.missingForward();
    this.input = null;
    return reluBackward(gradOutput, input);
  }
}

class FlattenLayer extends Layer {
  private inputShape: readonly number[] | null = null;

  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    this.inputShape = ctx.training ? input.shape : null;
    return flatten(input, this.plan.kernelParams as { start_dim: number; end_dim: number });
  }

  backward(gradOutput: FloatTensor): FloatTensor {
    const shape = this.inputShape ?? this.missingForward();
    this.inputShape = null;
    // The same elements in the same order: only the shape goes back.
    return { shape, dtype: gradOutput.dtype, data: gradOutput.data } as FloatTensor;
  }
}

class DropoutLayer extends Layer {
  private mask: FloatTensor | null = null;

  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    const p = this.plan.kernelParams.p as number;
    if (!ctx.training) {
      this.mask = null;
      return input;
    }
    const { output, mask } = dropout(input, { p, training: true, seed: ctx.nextSeed() });
    this.mask = mask;
    return output;
  }

  backward(gradOutput: FloatTensor): FloatTensor {
    const mask = this.mask ?? this.missingForward();
    this.mask = null;
    return dropoutBackward(gradOutput, mask, { p: this.plan.kernelParams.p as number, training: true });
  }
}

interface BatchNormParams {
  readonly eps: number;
  readonly momentum: number;
  readonly affine: boolean;
  readonly track_running_stats: boolean;
}

class BatchNormLayer extends Layer {
  private saved: { input: FloatTensor; save_mean: FloatTensor; save_invstd: FloatTensor; training: boolean } | null = null;

  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    const { eps, momentum } = this.plan.kernelParams as unknown as BatchNormParams;
    const runningMean = this.buffers[0]?.value ?? null;
    const runningVar = this.buffers[1]?.value ?? null;
    // As nn.BatchNorm: batch statistics in training, or always when no running statistics are kept.
    const useBatchStats = ctx.training || runningMean === null;
    const result = batchNorm(input, runningMean, runningVar, this.param('weight')?.value ?? null, this.param('bias')?.value ?? null, {
      training: useBatchStats,
      momentum,
      eps,
    });
    if (ctx.training && runningMean && runningVar) {
      if (result.running_mean && result.running_mean.data !== runningMean.data) runningMean.data.set(result.running_mean.data);
      if (result.running_var && result.running_var.data !== runningVar.data) runningVar.data.set(result.running_var.data);
    }
    this.saved = ctx.training ? { input, save_mean: result.save_mean, save_invstd: result.save_invstd, training: useBatchStats } : null;
    return result.output;
  }

  backward(gradOutput: FloatTensor): FloatTensor {
    const saved = this.saved ?? this.missingForward();
    const { eps, momentum } = this.plan.kernelParams as unknown as BatchNormParams;
    const weight = this.param('weight');
    const bias = this.param('bias');
    const grads = batchNormBackward(
      gradOutput,
      saved.input,
      weight?.value ?? null,
      { training: saved.training, momentum, eps },
      { save_mean: saved.save_mean, save_invstd: saved.save_invstd },
    );
    if (weight) weight.grad = grads.grad_weight ?? null;
    if (bias) bias.grad = grads.grad_bias ?? null;
    this.saved = null;
    return grads.grad_input;
  }
}

type PoolForward = (input: FloatTensor, opts: never) => FloatTensor | { output: FloatTensor; indices?: IntTensor };
type PoolBackward = (gradOutput: FloatTensor, input: FloatTensor, opts: never) => FloatTensor;
type IndexedPoolBackward = (gradOutput: FloatTensor, input: FloatTensor, indices: IntTensor, opts: never) => FloatTensor;

interface PoolKernels {
  readonly forward: PoolForward;
  readonly backward?: PoolBackward;
  readonly indexedBackward?: IndexedPoolBackward;
}

const indexed = (forward: unknown, backward: unknown): PoolKernels => ({
  forward: forward as PoolForward,
  indexedBackward: backward as IndexedPoolBackward,
});
const plain = (forward: unknown, backward: unknown): PoolKernels => ({
  forward: forward as PoolForward,
  backward: backward as PoolBackward,
});

/** Every pooling function a layer list may use, with its backward. */
const POOL_KERNELS: Readonly<Record<string, PoolKernels>> = {
  max_pool1d: indexed(maxPool.maxPool1d, maxPool.maxPool1dBackward),
  max_pool2d: indexed(maxPool.maxPool2d, maxPool.maxPool2dBackward),
  max_pool3d: indexed(maxPool.maxPool3d, maxPool.maxPool3dBackward),
  avg_pool1d: plain(avgPool.avgPool1d, avgPool.avgPool1dBackward),
  avg_pool2d: plain(avgPool.avgPool2d, avgPool.avgPool2dBackward),
  avg_pool3d: plain(avgPool.avgPool3d, avgPool.avgPool3dBackward),
  lp_pool1d: plain(lpPool.lpPool1d, lpPool.lpPool1dBackward),
  lp_pool2d: plain(lpPool.lpPool2d, lpPool.lpPool2dBackward),
  adaptive_avg_pool1d: plain(adaptivePool.adaptiveAvgPool1d, adaptivePool.adaptiveAvgPool1dBackward),
  adaptive_avg_pool2d: plain(adaptivePool.adaptiveAvgPool2d, adaptivePool.adaptiveAvgPool2dBackward),
  adaptive_avg_pool3d: plain(adaptivePool.adaptiveAvgPool3d, adaptivePool.adaptiveAvgPool3dBackward),
  adaptive_max_pool1d: indexed(adaptivePool.adaptiveMaxPool1d, adaptivePool.adaptiveMaxPool1dBackward),
  adaptive_max_pool2d: indexed(adaptivePool.adaptiveMaxPool2d, adaptivePool.adaptiveMaxPool2dBackward),
  adaptive_max_pool3d: indexed(adaptivePool.adaptiveMaxPool3d, adaptivePool.adaptiveMaxPool3dBackward),
};

class PoolLayer extends Layer {
  private readonly kernels: PoolKernels;
  private input: FloatTensor | null = null;
  /** Max pools: the indices of the latest forward, kept in evaluation too for a max_unpool layer. */
  indices: IntTensor | null = null;

  constructor(plan: LayerPlan) {
    super(plan);
    const kernels = POOL_KERNELS[plan.op];
    if (!kernels) throw new Error(`no pooling kernel for ${plan.op}`);
    this.kernels = kernels;
  }

  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    const result = this.kernels.forward(input, this.plan.kernelParams as never);
    const output = 'output' in result ? result.output : result;
    this.input = ctx.training ? input : null;
    this.indices = 'output' in result ? (result.indices ?? null) : null;
    return output;
  }

  backward(gradOutput: FloatTensor): FloatTensor {
    const input = this.input ?? this.missingForward();
    const params = this.plan.kernelParams as never;
    let grad: FloatTensor;
    if (this.kernels.indexedBackward) {
      grad = this.kernels.indexedBackward(gradOutput, input, this.indices ?? this.missingForward(), params);
    } else {
      grad = this.kernels.backward!(gradOutput, input, params);
    }
    this.input = null;
    return grad;
  }
}

const UNPOOL_KERNELS = {
  max_unpool1d: [maxUnpool.maxUnpool1d, maxUnpool.maxUnpool1dBackward],
  max_unpool2d: [maxUnpool.maxUnpool2d, maxUnpool.maxUnpool2dBackward],
  max_unpool3d: [maxUnpool.maxUnpool3d, maxUnpool.maxUnpool3dBackward],
} as const;

/** max_unpool scatters its input to where the named max_pool layer found its maxima. */
class UnpoolLayer extends Layer {
  private saved: { input: FloatTensor; indices: IntTensor } | null = null;

  constructor(
    plan: LayerPlan,
    private readonly source: PoolLayer,
  ) {
    super(plan);
  }

  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    const indices = this.source.indices;
    if (!indices) throw new Error(`layer ${this.plan.index} (${this.plan.op}): layer ${this.source.plan.index} produced no indices`);
    const [forward] = UNPOOL_KERNELS[this.plan.op as keyof typeof UNPOOL_KERNELS];
    this.saved = ctx.training ? { input, indices } : null;
    return forward(input, indices, this.plan.kernelParams as never);
  }

  backward(gradOutput: FloatTensor): FloatTensor {
    const { input, indices } = this.saved ?? this.missingForward();
    const [, backward] = UNPOOL_KERNELS[this.plan.op as keyof typeof UNPOOL_KERNELS];
    this.saved = null;
    return backward(gradOutput, input, indices, this.plan.kernelParams as never);
  }
}

/**
 * The runtime layer for a planned layer (`earlier` are the layers before it); parameters and
 * buffers are attached by the caller.
 */
export function createLayer(plan: LayerPlan, earlier: readonly Layer[]): Layer {
  switch (plan.kind) {
    case 'conv':
      return plan.op === 'conv1d'
        ? new ConvLayer(plan, conv1d as unknown as Conv, conv1dBackward as unknown as ConvBackward)
        : new ConvLayer(
            plan,
            conv2d as unknown as Conv,
            conv2dBackward as unknown as ConvBackward,
            conv2dWeightBackward as unknown as ConvWeightBackward,
          );
    case 'linear':
      return new LinearLayer(plan);
    case 'relu':
      return new ReluLayer(plan);
    case 'flatten':
      return new FlattenLayer(plan);
    case 'dropout':
      return new DropoutLayer(plan);
    case 'batch_norm':
      return new BatchNormLayer(plan);
    case 'pool':
      return new PoolLayer(plan);
    case 'unpool': {
      const source = earlier[plan.indicesFrom!];
      if (!(source instanceof PoolLayer)) throw new Error(`layer ${plan.index}: indices_from is not a pooling layer`);
      return new UnpoolLayer(plan, source);
    }
  }
}
