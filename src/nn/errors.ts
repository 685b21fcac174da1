/**
 * Errors in a training description (model, optimizer, training options), as opposed to failures
 * while computing. Where PyTorch rejects the same thing, the message is PyTorch's.
 */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
}

/** A model description that cannot be built; `layerIndex`/`layerName` say where, when it is one layer. */
export class ModelError extends ConfigError {
  override readonly name: string = 'ModelError';
  constructor(
    message: string,
    readonly layerIndex?: number,
    readonly layerName?: string,
  ) {
    super(message);
  }
}

/** Formats a number as Python's str(float) does, for messages copied from PyTorch (`1e-08`, `-1.0`). */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = x.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent >= -4 && exponent < 16) {
    const fixed = x.toFixed(Math.max(0, (mantissa.split('.')[1]?.length ?? 0) - exponent));
    return fixed.includes('.') ? fixed : `${fixed}.0`;
  }
  const sign = exponent < 0 ? '-' : '+';
  return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}
