/**
 * A model built from its description: the layers in order, the named parameters (state_dict
 * order) and buffers, initialised from a seed or given explicitly by name.
 */
import type { FloatDtype, FloatTensor } from '../kernels/tensor.js';
import { numel } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';
import { formatSizes } from '../kernels/errors.js';
import { ConfigError } from './errors.js';
import { initialise } from './init.js';
import { createLayer, type ForwardContext, type Layer } from './layers.js';
import { planModel, type ModelPlan } from './model.js';
import type { Buffer, Parameter } from './parameter.js';
import { Rng } from './rng.js';

/** A tensor as plain data, for explicit initial values and saved states. */
export interface TensorData {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

export interface NetworkOptions {
  /** Seed of the default initialisation (default 0). */
  readonly seed?: number;
  /** The generator to draw the initialisation from, instead of a fresh one from `seed`. */
  readonly rng?: Rng;
  readonly dtype?: FloatDtype;
  /** Values for some or all parameters and buffers, by name; the rest are drawn from the seed. */
  readonly initialParameters?: Readonly<Record<string, TensorData>>;
}

export class Network {
  readonly layers: readonly Layer[];
  readonly parameters: readonly Parameter[];
  readonly buffers: readonly Buffer[];

  private constructor(
    readonly plan: ModelPlan,
    readonly dtype: FloatDtype,
    layers: Layer[],
  ) {
    this.layers = layers;
    this.parameters = layers.flatMap((l) => l.parameters);
    this.buffers = layers.flatMap((l) => l.buffers);
  }

  /** Validates `spec` for inputs of `inputShape` (one sample) and initialises every parameter. */
  static create(spec: unknown, inputShape: readonly number[], options: NetworkOptions = {}): Network {
    const plan = planModel(spec, inputShape);
    const dtype = options.dtype ?? 'float32';
    const rng = options.rng ?? new Rng(options.seed ?? 0);
    const given = options.initialParameters ?? {};
    const known = new Set([...plan.parameters, ...plan.buffers].map((p) => p.name));
    for (const name of Object.keys(given)) {
      if (!known.has(name)) throw new ConfigError(`initial value for unknown parameter '${name}'; the model has ${[...known].join(', ')}`);
    }

    const layers: Layer[] = [];
    for (const layerPlan of plan.layers) {
      const layer = createLayer(layerPlan, layers);
      for (const info of layerPlan.parameters) {
        const value = { shape: [...info.shape], dtype, data: allocate(dtype, numel(info.shape)) } as FloatTensor;
        // Every parameter is drawn, given or not, so one given value does not shift the others.
        initialise(value.data, info.init, rng);
        layer.parameters.push({ name: info.name, value, grad: null });
      }
      for (const info of layerPlan.buffers) {
        const value = { shape: [...info.shape], dtype, data: allocate(dtype, numel(info.shape)) } as FloatTensor;
        initialise(value.data, info.init, rng);
        layer.buffers.push({ name: info.name, value });
      }
      layers.push(layer);
    }
    const network = new Network(plan, dtype, layers);
    network.loadTensors(given);
    return network;
  }

  /** Runs the layers in order on a batch `[N, ...inputShape]`. */
  forward(input: FloatTensor, ctx: ForwardContext): FloatTensor {
    const expected = this.plan.inputShape;
    if (input.shape.length !== expected.length + 1 || expected.some((d, i) => input.shape[i + 1] !== d)) {
      throw new ConfigError(`model expects input [N, ${expected.join(', ')}], got ${formatSizes(input.shape)}`);
    }
    if (input.dtype !== this.dtype) throw new ConfigError(`model computes in ${this.dtype}, got a ${input.dtype} input`);
    let x = input;
    for (const layer of this.layers) x = layer.forward(x, ctx);
    return x;
  }

  /** Back-propagates the gradient of the output; afterwards every parameter holds its gradient. */
  backward(gradOutput: FloatTensor): void {
    let g = gradOutput;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      // Only the first layer is told its input needs no gradient, so only it may answer null.
      const gradInput = this.layers[i]!.backward(g, i > 0);
      if (i > 0) g = gradInput!;
    }
  }

  /** Copies of every parameter and buffer by name (state_dict order, parameters first within a layer). */
  stateTensors(): Record<string, FloatTensor> {
    const out: Record<string, FloatTensor> = {};
    for (const layer of this.layers) {
      for (const t of [...layer.parameters, ...layer.buffers]) {
        out[t.name] = { shape: [...t.value.shape], dtype: t.value.dtype, data: t.value.data.slice() } as FloatTensor;
      }
    }
    return out;
  }

  /** Overwrites the named parameters and buffers (shapes must match); names not given keep their values. */
  loadTensors(tensors: Readonly<Record<string, TensorData>>): void {
    const byName = new Map<string, Parameter | Buffer>([...this.parameters, ...this.buffers].map((p) => [p.name, p]));
    for (const [name, t] of Object.entries(tensors)) {
      const target = byName.get(name);
      if (!target) throw new ConfigError(`unknown parameter '${name}'`);
      const shape = target.value.shape;
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== target.value.data.length) {
        throw new ConfigError(`parameter '${name}' has shape ${formatSizes(shape)}, got ${formatSizes(t.shape)} with ${t.data.length} values`);
      }
    }
    for (const [name, t] of Object.entries(tensors)) byName.get(name)!.value.data.set(t.data);
  }
}
