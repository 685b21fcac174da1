/**
 * Learning-rate schedules stepped once per epoch, as torch.optim.lr_scheduler is in the usual
 * loop (`scheduler.step()` after each epoch). Each is a function of the epoch count alone (the
 * closed forms PyTorch documents), so a restored run needs no scheduler state.
 */
import { ConfigError } from './errors.js';

export type SchedulerConfig =
  | { readonly name: 'StepLR'; readonly step_size: number; readonly gamma?: number }
  | { readonly name: 'ExponentialLR'; readonly gamma: number }
  | { readonly name: 'CosineAnnealingLR'; readonly T_max: number; readonly eta_min?: number };

/** The learning rate for a 0-based epoch, given the optimizer's initial one. */
export type Schedule = (baseLr: number, epoch: number) => number;

export function createSchedule(config: unknown): Schedule {
  if (typeof config !== 'object' || config === null) throw new ConfigError('lrScheduler must be an object with a "name"');
  const c = config as Record<string, unknown>;
  const allowed: Record<string, string[]> = {
    StepLR: ['name', 'step_size', 'gamma'],
    ExponentialLR: ['name', 'gamma'],
    CosineAnnealingLR: ['name', 'T_max', 'eta_min'],
  };
  const keys = allowed[String(c.name)];
  if (!keys) throw new ConfigError(`unknown lrScheduler ${JSON.stringify(c.name)}; expected ${Object.keys(allowed).join(', ')}`);
  for (const key of Object.keys(c)) if (!keys.includes(key)) throw new ConfigError(`unknown ${String(c.name)} argument '${key}'`);
  const num = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${String(c.name)} '${key}' must be a number`);
    return v;
  };
  const positiveInt = (key: string): number => {
    const v = num(key);
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${String(c.name)} '${key}' must be a positive integer`);
    return v;
  };
  switch (c.name) {
    case 'StepLR': {
      const stepSize = positiveInt('step_size');
      const gamma = num('gamma', 0.1);
      return (base, epoch) => base * gamma ** Math.floor(epoch / stepSize);
    }
    case 'ExponentialLR': {
      const gamma = num('gamma');
      return (base, epoch) => base * gamma ** epoch;
    }
    default: {
      const tMax = positiveInt('T_max');
      const etaMin = num('eta_min', 0);
      return (base, epoch) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * epoch) / tMax))) / 2;
    }
  }
}
