/**
 * SGD, Adam and AdamW with the update rules of torch.optim 1.13 (the single-tensor code path).
 *
 * Every tensor operation of PyTorch's update is reproduced one by one and rounded to the
 * parameter's dtype after each, as PyTorch's float32 kernels do; Python-float hyper-parameters are
 * rounded to that dtype where they meet a tensor. `add(x, alpha=a)` runs as a fused multiply-add
 * in ATen's vectorised CPU kernel, so it is rounded once here too.
 */
import type { FloatArray } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';
import { ConfigError, pyFloat } from './errors.js';
import type { Parameter } from './parameter.js';

export interface SgdConfig {
  readonly name: 'SGD';
  readonly lr: number;
  readonly momentum?: number;
  readonly dampening?: number;
  readonly weight_decay?: number;
  readonly nesterov?: boolean;
}

export interface AdamConfig {
  readonly name: 'Adam' | 'AdamW';
  readonly lr?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  readonly weight_decay?: number;
  readonly amsgrad?: boolean;
}

export type OptimizerConfig = SgdConfig | AdamConfig;

/** Per-parameter state under PyTorch's key names (`momentum_buffer`, `step`, `exp_avg`, ...). */
export type ParameterState = Record<string, number | FloatArray>;

/** Everything an optimizer needs to continue exactly where it stopped. Arrays are copies. */
export interface OptimizerState {
  readonly name: string;
  readonly state: Readonly<Record<string, ParameterState>>;
}

export interface Optimizer {
  readonly config: Required<SgdConfig> | Required<AdamConfig>;
  /** The learning rate of the next step (param_group['lr']): config.lr until a schedule changes it. */
  lr: number;
  /** Updates every parameter that has a gradient, in place. */
  step(): void;
  getState(): OptimizerState;
  setState(state: OptimizerState): void;
}

type Round = (x: number) => number;
const identity: Round = (x) => x;

/** Rounding to the storage type after each operation: float32 math for float32 parameters. */
function roundingFor(data: FloatArray): Round {
  return data instanceof Float32Array ? Math.fround : identity;
}

const SGD_KEYS = ['name', 'lr', 'momentum', 'dampening', 'weight_decay', 'nesterov'];
const ADAM_KEYS = ['name', 'lr', 'betas', 'eps', 'weight_decay', 'amsgrad'];

/** Checks a configuration as torch.optim's constructors do and fills in their defaults. */
export function normaliseOptimizerConfig(config: unknown): Required<SgdConfig> | Required<AdamConfig> {
  if (typeof config !== 'object' || config === null) throw new ConfigError('optimizer must be an object with a "name"');
  const c = config as Record<string, unknown>;
  const name = typeof c.name === 'string' ? canonicalName(c.name) : undefined;
  if (!name) throw new ConfigError(`unknown optimizer ${JSON.stringify(c.name)}; expected SGD, Adam or AdamW`);
  const keys = name === 'SGD' ? SGD_KEYS : ADAM_KEYS;
  for (const key of Object.keys(c)) {
    if (!keys.includes(key)) throw new ConfigError(`unknown ${name} argument '${key}'`);
  }
  const num = (key: string, fallback: number | undefined): number => {
    const v = c[key] ?? fallback;
    if (v === undefined) throw new ConfigError(`${name} needs '${key}'`);
    if (typeof v !== 'number' || Number.isNaN(v)) throw new ConfigError(`${name} '${key}' must be a number`);
    return v;
  };
  const bool = (key: string): boolean => {
    const v = c[key] ?? false;
    if (typeof v !== 'boolean') throw new ConfigError(`${name} '${key}' must be true or false`);
    return v;
  };

  if (name === 'SGD') {
    const lr = num('lr', undefined);
    const momentum = num('momentum', 0);
    const dampening = num('dampening', 0);
    const weightDecay = num('weight_decay', 0);
    const nesterov = bool('nesterov');
    if (lr < 0) throw new ConfigError(`Invalid learning rate: ${pyFloat(lr)}`);
    if (momentum < 0) throw new ConfigError(`Invalid momentum value: ${pyFloat(momentum)}`);
    if (weightDecay < 0) throw new ConfigError(`Invalid weight_decay value: ${pyFloat(weightDecay)}`);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new ConfigError('Nesterov momentum requires a momentum and zero dampening');
    }
    return { name, lr, momentum, dampening, weight_decay: weightDecay, nesterov };
  }

  const lr = num('lr', 1e-3);
  const eps = num('eps', 1e-8);
  const weightDecay = num('weight_decay', name === 'AdamW' ? 1e-2 : 0);
  const amsgrad = bool('amsgrad');
  const betas = c.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number')) {
    throw new ConfigError(`${name} 'betas' must be a list of two numbers`);
  }
  const [beta1, beta2] = betas as [number, number];
  if (!(lr >= 0)) throw new ConfigError(`Invalid learning rate: ${pyFloat(lr)}`);
  if (!(eps >= 0)) throw new ConfigError(`Invalid epsilon value: ${pyFloat(eps)}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw new ConfigError(`Invalid beta parameter at index 0: ${pyFloat(beta1)}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new ConfigError(`Invalid beta parameter at index 1: ${pyFloat(beta2)}`);
  if (!(weightDecay >= 0)) throw new ConfigError(`Invalid weight_decay value: ${pyFloat(weightDecay)}`);
  return { name, lr, betas: [beta1, beta2], eps, weight_decay: weightDecay, amsgrad };
}

function canonicalName(name: string): 'SGD' | 'Adam' | 'AdamW' | undefined {
  return ({ sgd: 'SGD', adam: 'Adam', adamw: 'AdamW' } as const)[name.toLowerCase() as 'sgd' | 'adam' | 'adamw'];
}

/** An optimizer over `parameters` (the list it updates, like `torch.optim.X(model.parameters())`). */
export function createOptimizer(config: unknown, parameters: readonly Parameter[]): Optimizer {
  const normalised = normaliseOptimizerConfig(config);
  return normalised.name === 'SGD' ? new Sgd(normalised, parameters) : new Adam(normalised, parameters);
}

abstract class BaseOptimizer<C extends Required<SgdConfig> | Required<AdamConfig>> implements Optimizer {
  /** Per-parameter state by parameter name; absent until the parameter's first step. */
  protected readonly state = new Map<string, ParameterState>();
  lr: number;

  constructor(
    readonly config: C,
    protected readonly parameters: readonly Parameter[],
  ) {
    this.lr = config.lr;
  }

  abstract step(): void;

  getState(): OptimizerState {
    const state: Record<string, ParameterState> = {};
    for (const [name, entry] of this.state) state[name] = copyEntry(entry);
    return { name: this.config.name, state };
  }

  setState(saved: OptimizerState): void {
    if (saved.name !== this.config.name) {
      throw new ConfigError(`optimizer state is for ${saved.name}, not ${this.config.name}`);
    }
    const byName = new Map(this.parameters.map((p) => [p.name, p]));
    const restored = new Map<string, ParameterState>();
    for (const [name, entry] of Object.entries(saved.state)) {
      const param = byName.get(name);
      if (!param) throw new ConfigError(`optimizer state names unknown parameter '${name}'`);
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'number' && value.length !== param.value.data.length) {
          throw new ConfigError(`optimizer state '${name}.${key}' has ${value.length} elements, expected ${param.value.data.length}`);
        }
      }
      restored.set(name, copyEntry(entry, param.value.data));
    }
    this.state.clear();
    for (const [name, entry] of restored) this.state.set(name, entry);
  }
}

/** A deep copy; arrays take `like`'s element type when given. */
function copyEntry(entry: ParameterState, like?: FloatArray): ParameterState {
  const copy: ParameterState = {};
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value === 'number') copy[key] = value;
    else if (like) {
      const data = allocate(like instanceof Float32Array ? 'float32' : 'float64', value.length);
      data.set(value);
      copy[key] = data;
    } else copy[key] = value.slice();
  }
  return copy;
}

class Sgd extends BaseOptimizer<Required<SgdConfig>> {
  step(): void {
    const { momentum, dampening, weight_decay: weightDecay, nesterov } = this.config;
    const lr = this.lr;
    for (const param of this.parameters) {
      if (!param.grad) continue;
      const p = param.value.data;
      const g = param.grad.data;
      const r = roundingFor(p);
      const wd = r(weightDecay);
      const mom = r(momentum);
      const keep = r(1 - dampening);
      const negLr = r(-lr);
      let buf: FloatArray | undefined;
      let firstStep = false;
      if (momentum !== 0) {
        let entry = this.state.get(param.name);
        if (!entry || !entry.momentum_buffer) {
          entry = { momentum_buffer: allocate(param.value.dtype, p.length) };
          this.state.set(param.name, entry);
          firstStep = true;
        }
        buf = entry.momentum_buffer as FloatArray;
      }
      for (let i = 0; i < p.length; i++) {
        let d = g[i]!;
        if (weightDecay !== 0) d = r(wd * p[i]! + d); // d_p.add(param, alpha=weight_decay)
        if (buf) {
          // First step: buf = clone(d_p), without dampening; then buf.mul_(momentum).add_(d_p, alpha=1-dampening).
          const b = firstStep ? d : r(keep * d + r(buf[i]! * mom));
          buf[i] = b;
          d = nesterov ? r(mom * b + d) : b;
        }
        p[i] = r(negLr * d + p[i]!); // param.add_(d_p, alpha=-lr)
      }
    }
  }
}

class Adam extends BaseOptimizer<Required<AdamConfig>> {
  step(): void {
    const { betas, eps, weight_decay: weightDecay, amsgrad, name } = this.config;
    const lr = this.lr;
    const [beta1, beta2] = betas;
    const decoupled = name === 'AdamW';
    for (const param of this.parameters) {
      if (!param.grad) continue;
      const p = param.value.data;
      const g = param.grad.data;
      const r = roundingFor(p);
      let entry = this.state.get(param.name);
      if (!entry) {
        entry = { step: 0, exp_avg: allocate(param.value.dtype, p.length), exp_avg_sq: allocate(param.value.dtype, p.length) };
        if (amsgrad) entry.max_exp_avg_sq = allocate(param.value.dtype, p.length);
        this.state.set(param.name, entry);
      }
      const step = (entry.step as number) + 1;
      entry.step = step;
      const m = entry.exp_avg as FloatArray;
      const v = entry.exp_avg_sq as FloatArray;
      const vMax = entry.max_exp_avg_sq as FloatArray | undefined;

      // Python-side scalars, in double precision as torch.optim computes them.
      const biasCorrection1 = 1 - beta1 ** step;
      const biasCorrection2 = 1 - beta2 ** step;
      const stepSize = lr / biasCorrection1;
      const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);

      const wd = r(weightDecay);
      const decay = r(1 - lr * weightDecay);
      const b1 = r(beta1);
      const oneMinusB1 = r(1 - beta1);
      const b2 = r(beta2);
      const oneMinusB2 = r(1 - beta2);
      const bc2Sqrt = r(biasCorrection2Sqrt);
      const epsilon = r(eps);
      const negStepSize = r(-stepSize);
      for (let i = 0; i < p.length; i++) {
        let grad = g[i]!;
        if (decoupled) p[i] = r(p[i]! * decay); // param.mul_(1 - lr * weight_decay)
        else if (weightDecay !== 0) grad = r(wd * p[i]! + grad); // grad.add(param, alpha=weight_decay)
        const mi = r(oneMinusB1 * grad + r(m[i]! * b1)); // exp_avg.mul_(beta1).add_(grad, alpha=1-beta1)
        const vi = r(r(v[i]! * b2) + r(r(oneMinusB2 * grad) * grad)); // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
        m[i] = mi;
        v[i] = vi;
        let second = vi;
        if (vMax) {
          second = Math.max(vMax[i]!, vi); // torch.maximum: NaN propagates
          vMax[i] = second;
        }
        const denom = r(r(r(Math.sqrt(second)) / bc2Sqrt) + epsilon); // (v.sqrt() / bc2_sqrt).add_(eps)
        p[i] = r(p[i]! + r(r(negStepSize * mi) / denom)); // param.addcdiv_(exp_avg, denom, value=-step_size)
      }
    }
  }
}
