import type { Tensor } from './tensor.js';
import { maxPoolOps } from './pooling/max_pool.js';
import { avgPoolOps } from './pooling/avg_pool.js';
import { lpPoolOps } from './pooling/lp_pool.js';
import { adaptivePoolOps } from './pooling/adaptive_pool.js';
import { maxUnpoolOps } from './pooling/max_unpool.js';
import { reductionOps } from './reduction/mean.js';
import { layerOps } from './layers/index.js';

/** Keyword arguments exactly as `torch.nn.functional` names them (tuples as arrays, None as null). */
export type Params = Readonly<Record<string, unknown>>;
export type Tensors = Readonly<Record<string, Tensor>>;
export type Shapes = Readonly<Record<string, readonly number[]>>;

export interface TensorArg {
  readonly name: string;
  /** `float` accepts float32 and float64; `int64` is for indices and class targets. */
  readonly kind: 'float' | 'int64';
  readonly optional?: boolean;
}

/** What an op will produce, known before any data is touched. */
export interface OpPlan {
  /** Shape of each forward result by name (`output`, `indices`). */
  readonly outputs: Readonly<Record<string, readonly number[]>>;
  /** Estimated scalar operations of the forward (comparisons or multiply-adds). */
  readonly work: number;
}

/**
 * One operator as the registry exposes it: a uniform calling convention over the typed functions,
 * so that a worker can dispatch by name and the service can check a request before queueing it.
 */
export interface OpSpec {
  readonly name: string;
  readonly summary: string;
  /** Tensor arguments in PyTorch's positional order. */
  readonly tensorArgs: readonly TensorArg[];
  /** Names of the tensors the backward returns; empty when the op has no backward. */
  readonly gradients: readonly string[];
  /** Checks arguments against the input shapes, throwing KernelArgumentError with PyTorch's message. */
  plan(shapes: Shapes, params: Params): OpPlan;
  forward(tensors: Tensors, params: Params): Record<string, Tensor>;
  /** `tensors` holds the forward's tensor arguments plus `grad_output`. */
  backward?(tensors: Tensors, params: Params): Record<string, Tensor>;
}

const all: readonly OpSpec[] = [
  ...maxPoolOps,
  ...avgPoolOps,
  ...lpPoolOps,
  ...adaptivePoolOps,
  ...maxUnpoolOps,
  ...reductionOps,
  ...layerOps,
];

export const ops: ReadonlyMap<string, OpSpec> = new Map(all.map((op) => [op.name, op]));

export function getOp(name: string): OpSpec | undefined {
  return ops.get(name);
}
