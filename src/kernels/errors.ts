/**
 * Argument errors raised by the kernels. `message` is PyTorch 1.13.1's text, verbatim, wherever
 * PyTorch raises a RuntimeError from ATen; `pythonType` names the exception class PyTorch raises
 * so callers can tell ATen errors from errors of the Python wrappers.
 */
export type PythonErrorType = 'RuntimeError' | 'ValueError' | 'TypeError' | 'IndexError' | 'ZeroDivisionError';

export class KernelArgumentError extends Error {
  override readonly name = 'KernelArgumentError';
  constructor(
    message: string,
    readonly pythonType: PythonErrorType = 'RuntimeError',
  ) {
    super(message);
  }
}

/** Throws a RuntimeError-like KernelArgumentError when `cond` is false (ATen's TORCH_CHECK). */
export function check(cond: boolean, message: string | (() => string)): asserts cond {
  if (!cond) throw new KernelArgumentError(typeof message === 'string' ? message : message());
}

/** Formats a shape as PyTorch prints sizes in messages: `[1, 2, 8]`. */
export function formatSizes(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
