import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../../src/kernels/errors.js';
import { lpPool2d } from '../../../src/kernels/pooling/lp_pool.js';
import { maxPool1d, maxPool1dBackward, maxPool2d, maxPool2dBackward } from '../../../src/kernels/pooling/max_pool.js';
import { getOp, type Params } from '../../../src/kernels/registry.js';
import { zerosFloat } from '../../../src/kernels/storage.js';
import type { FloatTensor } from '../../../src/kernels/tensor.js';
import { loadGolden } from '../../helpers/golden.js';

interface ErrorCase {
  id: string;
  fn: string;
  params: Params;
  input_shape: number[];
  error: string;
  message: string;
}

const pools = new Set(['max_pool1d', 'max_pool2d', 'max_pool3d', 'avg_pool1d', 'avg_pool2d', 'avg_pool3d', 'lp_pool1d', 'lp_pool2d']);
const cases = (loadGolden('errors.json').cases as unknown as ErrorCase[]).filter((c) => pools.has(c.fn));

/** The KernelArgumentError `run` throws. */
function thrown(run: () => unknown): KernelArgumentError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KernelArgumentError);
    return error as KernelArgumentError;
  }
  throw new Error('expected a KernelArgumentError, but nothing was thrown');
}

function expectPyTorchError(error: KernelArgumentError, c: ErrorCase) {
  expect(error.pythonType).toBe(c.error);
  // RuntimeErrors come from ATen and are part of the API; the wrappers' texts are matched where they are cheap to match.
  expect(error.message).toBe(c.message);
}

describe('argument errors match PyTorch 1.13.1 (errors.json)', () => {
  it('covers every case for these pools', () => {
    expect(cases.length).toBe(19 + 21 + 9 + 7 + 11 + 8 + 4 + 2);
  });

  for (const c of cases) {
    it(c.id, () => {
      const op = getOp(c.fn)!;
      expectPyTorchError(thrown(() => op.plan({ input: c.input_shape }, c.params)), c);
      const input = zerosFloat('float32', c.input_shape);
      expectPyTorchError(thrown(() => op.forward({ input }, c.params)), c);
    });
  }
});

describe('quirks of PyTorch kept on purpose', () => {
  const input = zerosFloat('float32', [1, 2, 8]);

  it('max_pool1d-nograd-empty-output: the plain path returns an empty output that the gradient path rejects', () => {
    const params = { kernel_size: 9 };
    const op = getOp('max_pool1d')!;
    expect(op.plan({ input: [1, 2, 8] }, params).outputs).toEqual({ output: [1, 2, 0] });
    const { output, indices } = maxPool1d(input, params);
    expect(output.shape).toEqual([1, 2, 0]);
    const message = 'Given input size: (2x1x8). Calculated output size: (2x1x0). Output size is too small';
    expect(thrown(() => maxPool1dBackward(zerosFloat('float32', [1, 2, 0]), input, indices!, params)).message).toBe(message);
    const gradOutput = zerosFloat('float32', [1, 2, 0]);
    expect(thrown(() => op.backward!({ input, grad_output: gradOutput }, params)).message).toBe(message);
  });

  it('max_pool1d without return_indices reports a negative computed length', () => {
    const error = thrown(() => maxPool1d(zerosFloat('float32', [1, 1, 2]), { kernel_size: 9, stride: 1 }));
    expect(error.message).toBe('max_pool1d() Invalid computed output size: -6');
  });

  it('the backward of max_pool1d takes the gradient path and its messages', () => {
    const error = thrown(() => maxPool1dBackward(input, input, { shape: [1, 2, 8], dtype: 'int64', data: new Int32Array(16) }, { kernel_size: 2, stride: 0 }));
    expect(error.message).toBe('stride should not be zero');
  });

  it('avg_pool3d requires the input to be at least the kernel, whatever the padding', () => {
    const op = getOp('avg_pool3d')!;
    const error = thrown(() => op.plan({ input: [1, 1, 2, 2, 2] }, { kernel_size: 3, padding: 1 }));
    expect(error.message).toBe('input image (T: 2 H: 2 W: 2) smaller than kernel size (kT: 3 kH: 3 kW: 3)');
    expect(getOp('max_pool3d')!.plan({ input: [1, 1, 2, 2, 2] }, { kernel_size: 3, padding: 1 }).outputs).toEqual({
      output: [1, 1, 1, 1, 1],
    });
  });

  it('max_pool2d checks the rank before the padding; avg_pool2d after it', () => {
    const params = { kernel_size: 2, padding: 2 };
    expect(thrown(() => getOp('max_pool2d')!.plan({ input: [1, 1, 2, 8, 8] }, params)).message).toBe(
      'non-empty 3D or 4D (batch mode) tensor expected for input',
    );
    expect(thrown(() => getOp('avg_pool2d')!.plan({ input: [1, 1, 2, 8, 8] }, params)).message).toBe(
      'pad should be at most half of kernel size, but got pad=2 and kernel_size=2',
    );
    expect(thrown(() => getOp('avg_pool2d')!.plan({ input: [1, 1, 2, 8, 8] }, { kernel_size: 2 })).message).toBe(
      'Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:[1, 1, 2, 8, 8]',
    );
  });

  it('a negative kernel passes the padding check (C++ division truncates) and fails the kernel check', () => {
    expect(thrown(() => getOp('max_pool2d')!.plan({ input: [1, 1, 4, 4] }, { kernel_size: -1, stride: 1 })).message).toBe(
      'kernel size should be greater than zero, but got kH: -1 kW: -1',
    );
  });

  it('lp_pool2d unpacks kernel_size into two values before anything else', () => {
    const op = getOp('lp_pool2d')!;
    const tooMany = thrown(() => op.plan({ input: [2, 8] }, { norm_type: 2, kernel_size: [2, 2, 2] }));
    expect([tooMany.pythonType, tooMany.message]).toEqual(['ValueError', 'too many values to unpack (expected 2)']);
    const tooFew = thrown(() => op.plan({ input: [1, 1, 8, 8] }, { norm_type: 2, kernel_size: [2] }));
    expect([tooFew.pythonType, tooFew.message]).toEqual(['ValueError', 'not enough values to unpack (expected 2, got 1)']);
  });
});

describe('arguments of the wrong type or name are TypeErrors', () => {
  const plan = (fn: string, params: Params, shape = [1, 2, 8, 8]) => thrown(() => getOp(fn)!.plan({ input: shape }, params));

  const typeErrors: [string, Params, string][] = [
    ['max_pool2d', { kernel_size: 2.5 }, "max_pool2d(): argument 'kernel_size' must be tuple of ints, not float"],
    ['max_pool2d', { kernel_size: [2, 1.5] }, "max_pool2d(): argument 'kernel_size' must be tuple of ints, but found element of type float at pos 2"],
    ['max_pool2d', { kernel_size: '2' }, "max_pool2d(): argument 'kernel_size' must be tuple of ints, not str"],
    ['max_pool2d', { kernel_size: true }, "max_pool2d(): argument 'kernel_size' must be tuple of ints, not bool"],
    ['max_pool2d', { kernel_size: 2, padding: null }, "max_pool2d(): argument 'padding' must be tuple of ints, not NoneType"],
    ['max_pool2d', { kernel_size: 2, ceil_mode: 1 }, "max_pool2d(): argument 'ceil_mode' must be bool, not int"],
    ['max_pool2d', { kernel_size: 2, return_indices: 'yes' }, "max_pool2d(): argument 'return_indices' must be bool, not str"],
    ['max_pool2d', {}, "max_pool2d() missing 1 required positional argument: 'kernel_size'"],
    ['max_pool2d', { kernel_size: 2, kernelSize: 2 }, "max_pool2d() got an unexpected keyword argument 'kernelSize'"],
    ['avg_pool2d', { kernel_size: 2, divisor_override: 1.5 }, "avg_pool2d(): argument 'divisor_override' must be int, not float"],
    ['avg_pool2d', { kernel_size: 2, count_include_pad: null }, "avg_pool2d(): argument 'count_include_pad' must be bool, not NoneType"],
    ['avg_pool2d', { kernel_size: 2, dilation: 2 }, "avg_pool2d() got an unexpected keyword argument 'dilation'"],
    ['lp_pool2d', { kernel_size: 2 }, "lp_pool2d() missing 1 required positional argument: 'norm_type'"],
    ['lp_pool2d', { norm_type: '2', kernel_size: 2 }, "lp_pool2d(): argument 'norm_type' must be a number, not str"],
    ['lp_pool2d', { norm_type: 2, kernel_size: 2, padding: 1 }, "lp_pool2d() got an unexpected keyword argument 'padding'"],
  ];
  for (const [fn, params, message] of typeErrors) {
    it(`${fn} ${JSON.stringify(params)}`, () => {
      const error = plan(fn, params);
      expect([error.pythonType, error.message]).toEqual(['TypeError', message]);
    });
  }

  it('avg_pool1d has no divisor_override', () => {
    const error = plan('avg_pool1d', { kernel_size: 2, divisor_override: 2 }, [1, 2, 8]);
    expect([error.pythonType, error.message]).toEqual(['TypeError', "avg_pool1d() got an unexpected keyword argument 'divisor_override'"]);
  });

  it('a plan without an input shape is a TypeError', () => {
    const error = thrown(() => getOp('max_pool2d')!.plan({}, { kernel_size: 2 }));
    expect([error.pythonType, error.message]).toEqual(['TypeError', "max_pool2d() missing 1 required positional argument: 'input'"]);
  });

  it('stride may be omitted, None or an empty tuple', () => {
    for (const stride of [undefined, null, []]) {
      expect(getOp('max_pool2d')!.plan({ input: [1, 1, 6, 6] }, { kernel_size: 3, stride }).outputs['output']).toEqual([1, 1, 2, 2]);
    }
  });
});

describe('tensor arguments are checked', () => {
  const input = zerosFloat('float32', [1, 1, 4, 4]);

  it('grad_output must have the output shape', () => {
    const { indices } = maxPool2d(input, { kernel_size: 2 });
    const error = thrown(() => maxPool2dBackward(zerosFloat('float32', [1, 1, 3, 3]), input, indices!, { kernel_size: 2 }));
    expect(error.message).toBe(
      'Mismatch in shape: grad_output[0] has a shape of torch.Size([1, 1, 3, 3]) and output[0] has a shape of torch.Size([1, 1, 2, 2]).',
    );
  });

  it('indices must have the output shape', () => {
    const indices = { shape: [1, 1, 4], dtype: 'int64' as const, data: new Int32Array(4) };
    expect(() => maxPool2dBackward(zerosFloat('float32', [1, 1, 2, 2]), input, indices, { kernel_size: 2 })).toThrow(KernelArgumentError);
  });

  it('a grad_output of another float dtype is cast to the input dtype, as autograd does', () => {
    const gradOutput = zerosFloat('float64', [1, 1, 2, 2]);
    gradOutput.data.fill(0.1);
    const result = getOp('avg_pool2d')!.backward!({ input, grad_output: gradOutput }, { kernel_size: 2 })['grad_input']!;
    expect(result.dtype).toBe('float32');
    expect(result.data[0]).toBe(Math.fround(Math.fround(0.1) / 4));
  });

  it('an int64 input is rejected', () => {
    const ints = { shape: [1, 1, 4, 4], dtype: 'int64', data: new Int32Array(16) } as unknown as FloatTensor;
    expect(() => lpPool2d(ints, { norm_type: 2, kernel_size: 2 })).toThrow(KernelArgumentError);
  });

  it('a tensor whose data does not fill its shape is rejected', () => {
    const short = { shape: [1, 1, 4, 4], dtype: 'float32', data: new Float32Array(15) } as FloatTensor;
    expect(() => maxPool2d(short, { kernel_size: 2 })).toThrow(KernelArgumentError);
  });
});
