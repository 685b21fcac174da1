import { describe, expect, it } from 'vitest';
import { loadGolden, type EncodedTensor } from '../helpers/golden.js';
import { createOptimizer, normaliseOptimizerConfig } from '../../src/nn/optimizers.js';
import type { Parameter } from '../../src/nn/parameter.js';
import { ConfigError } from '../../src/nn/errors.js';

interface NamedEncoded extends EncodedTensor {
  name: string;
}

const train = loadGolden('train.json');

function parameters(list: NamedEncoded[], grads?: NamedEncoded[]): Parameter[] {
  return list.map((p, i) => ({
    name: p.name,
    value: { shape: p.shape, dtype: 'float32', data: Float32Array.from(p.data as number[]) },
    grad: grads ? { shape: grads[i]!.shape, dtype: 'float32', data: Float32Array.from(grads[i]!.data as number[]) } : null,
  }));
}

/** The golden README's bound for trained parameters. */
function expectParametersClose(actual: Parameter[], expected: NamedEncoded[]) {
  expected.forEach((e, i) => {
    const a = actual[i]!;
    expect(a.name).toBe(e.name);
    const bad = (e.data as number[]).findIndex((b, j) => !(Math.abs(a.value.data[j]! - b) <= 1e-6 + 1e-4 * Math.abs(b)));
    expect(bad, `${e.name}[${bad}]`).toBe(-1);
  });
}

describe('one optimizer step from the golden step-1 gradients', () => {
  for (const c of train.cases.filter((c) => c.model === 'deep_cnn')) {
    it(c.id, () => {
      const step1 = (c.steps as Array<Record<string, NamedEncoded[]>>)[0]!;
      const params = parameters(c.initial_parameters as NamedEncoded[], step1.grads);
      createOptimizer(c.optimizer, params).step();
      expectParametersClose(params, step1.parameters_after!);
    });
  }

  it('lenet5-sgd-1step: p - lr * grad', () => {
    const c = train.cases.find((c) => c.id === 'lenet5-sgd-1step')!;
    const step1 = (c.steps as Array<Record<string, NamedEncoded[]>>)[0]!;
    const initial = c.initial_parameters as NamedEncoded[];
    const params = parameters(initial, step1.grads);
    createOptimizer(c.optimizer, params).step();
    const lr = Math.fround((c.optimizer as { lr: number }).lr);
    const expected = initial.map((p, i) => ({
      ...p,
      data: (p.data as number[]).map((v, j) => Math.fround(v - lr * (step1.grads![i]!.data[j] as number))),
    }));
    expectParametersClose(params, expected);
  });
});

function quadratic(dtype: 'float32' | 'float64' = 'float32'): Parameter {
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  return { name: 'w', value: { shape: [3], dtype, data: Arr.from([1, -2, 0.5]) }, grad: null };
}

/** Gradient of sum(w^2) / 2 is w. */
function setGrad(p: Parameter) {
  p.grad = { shape: p.value.shape, dtype: p.value.dtype, data: p.value.data.slice() };
}

describe('update rules', () => {
  it('SGD with momentum: the first step copies the gradient into the buffer, later ones blend', () => {
    const p = quadratic('float64');
    const opt = createOptimizer({ name: 'SGD', lr: 0.1, momentum: 0.9, dampening: 0.5 }, [p]);
    setGrad(p);
    opt.step(); // buf = g = 1, p = 1 - 0.1
    expect(p.value.data[0]).toBeCloseTo(0.9, 15);
    setGrad(p);
    opt.step(); // buf = 0.9*1 + 0.5*0.9 = 1.35, p = 0.9 - 0.135
    expect(p.value.data[0]).toBeCloseTo(0.765, 15);
    expect(opt.getState().state.w!.momentum_buffer).toEqual(Float64Array.from([1.35, -2.7, 0.675]));
  });

  it('SGD nesterov adds momentum * buf to the gradient', () => {
    const p = quadratic('float64');
    const opt = createOptimizer({ name: 'SGD', lr: 0.1, momentum: 0.9, nesterov: true }, [p]);
    setGrad(p);
    opt.step(); // buf = 1, d = 1 + 0.9 = 1.9
    expect(p.value.data[0]).toBeCloseTo(1 - 0.19, 15);
  });

  it('AdamW with weight_decay 0 is Adam, bit for bit', () => {
    const a = quadratic();
    const b = quadratic();
    const adam = createOptimizer({ name: 'Adam', lr: 0.01 }, [a]);
    const adamw = createOptimizer({ name: 'AdamW', lr: 0.01, weight_decay: 0 }, [b]);
    for (let i = 0; i < 5; i++) {
      setGrad(a);
      setGrad(b);
      adam.step();
      adamw.step();
    }
    expect(b.value.data).toEqual(a.value.data);
  });

  it('AdamW decays the parameter before the Adam update; the first Adam step moves by lr', () => {
    const p = quadratic('float64');
    const opt = createOptimizer({ name: 'AdamW', lr: 0.1, weight_decay: 0.5, eps: 0 }, [p]);
    setGrad(p);
    opt.step(); // p * (1 - 0.05) - 0.1 * sign(g)
    expect(p.value.data[0]).toBeCloseTo(0.95 - 0.1, 12);
    expect(p.value.data[1]).toBeCloseTo(-1.9 + 0.1, 12);
  });

  it('amsgrad keeps the largest second moment', () => {
    const p = quadratic('float64');
    const opt = createOptimizer({ name: 'Adam', lr: 0.1, amsgrad: true }, [p]);
    setGrad(p);
    opt.step();
    p.grad = { shape: [3], dtype: 'float64', data: Float64Array.from([0, 0, 0]) };
    opt.step();
    const state = opt.getState().state.w!;
    const v = state.exp_avg_sq as Float64Array;
    const vMax = state.max_exp_avg_sq as Float64Array;
    expect(vMax[0]).toBeGreaterThan(v[0]!);
    expect(vMax[0]).toBeCloseTo(0.001, 15);
  });

  it('state survives a round trip and is a copy', () => {
    const a = quadratic();
    const opt = createOptimizer({ name: 'Adam' }, [a]);
    setGrad(a);
    opt.step();
    const saved = opt.getState();
    const b: Parameter = { ...quadratic(), value: { shape: [3], dtype: 'float32', data: a.value.data.slice() } };
    const opt2 = createOptimizer({ name: 'adam' }, [b]);
    opt2.setState(saved);
    setGrad(a);
    setGrad(b);
    opt.step();
    opt2.step();
    expect(b.value.data).toEqual(a.value.data);
    expect((saved.state.w!.step as number)).toBe(1);
  });
});

describe('configuration errors use torch.optim messages', () => {
  const cases: Array<[unknown, string]> = [
    [{ name: 'SGD', lr: -0.1 }, 'Invalid learning rate: -0.1'],
    [{ name: 'SGD', lr: 0.1, momentum: -1 }, 'Invalid momentum value: -1.0'],
    [{ name: 'SGD', lr: 0.1, nesterov: true }, 'Nesterov momentum requires a momentum and zero dampening'],
    [{ name: 'Adam', eps: -1e-8 }, 'Invalid epsilon value: -1e-08'],
    [{ name: 'Adam', betas: [1, 0.999] }, 'Invalid beta parameter at index 0: 1.0'],
    [{ name: 'AdamW', betas: [0.9, -0.5] }, 'Invalid beta parameter at index 1: -0.5'],
    [{ name: 'Adam', weight_decay: -0.01 }, 'Invalid weight_decay value: -0.01'],
    [{ name: 'RMSprop' }, 'unknown optimizer "RMSprop"; expected SGD, Adam or AdamW'],
    [{ name: 'SGD', lr: 0.1, beta: 1 }, "unknown SGD argument 'beta'"],
    [{ name: 'SGD' }, "SGD needs 'lr'"],
  ];
  for (const [config, message] of cases) {
    it(message, () => {
      expect(() => normaliseOptimizerConfig(config)).toThrow(new ConfigError(message));
    });
  }

  it('defaults follow torch.optim', () => {
    expect(normaliseOptimizerConfig({ name: 'AdamW' })).toEqual({
      name: 'AdamW', lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 1e-2, amsgrad: false,
    });
  });
});
