import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeTensor,
  encodeTensor,
  encodeTensors,
  TensorFormatError,
  TensorSizeError,
  type DecodeOptions,
  type EncodedTensor,
} from '../../src/tensor/codec.js';
import type { Tensor } from '../../src/kernels/tensor.js';

const asFloat: DecodeOptions = { name: 'input', defaultDtype: 'float32', maxElements: 1000 };
const asIndex: DecodeOptions = { name: 'indices', defaultDtype: 'int64', maxElements: 1000 };

const decode = (t: EncodedTensor, opts = asFloat) => decodeTensor(t, opts);
const formatError = (t: EncodedTensor, opts = asFloat) => {
  try {
    decodeTensor(t, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(TensorFormatError);
    return (e as Error).message;
  }
  throw new Error('expected a TensorFormatError');
};

describe('decoding flat data', () => {
  it('reads the golden files form, float32 by default', () => {
    const t = decode({ shape: [2, 2], data: [0.5, -1, 2, 3] });
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([2, 2]);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect([...t.data]).toEqual([0.5, -1, 2, 3]);
  });

  it('reads the non-finite strings', () => {
    const t = decode({ shape: [3], data: ['NaN', 'Infinity', '-Infinity'] });
    expect(Number.isNaN(t.data[0])).toBe(true);
    expect(t.data[1]).toBe(Infinity);
    expect(t.data[2]).toBe(-Infinity);
  });

  it('keeps float64 precision when asked', () => {
    const t = decode({ shape: [1], dtype: 'float64', data: [0.1] });
    expect(t.data).toBeInstanceOf(Float64Array);
    expect(t.data[0]).toBe(0.1);
  });

  it('defaults to 1-D without a shape', () => {
    expect(decode({ data: [1, 2, 3] }).shape).toEqual([3]);
    expect(decode({ data: [] }).shape).toEqual([0]);
  });

  it('accepts empty tensors and scalars', () => {
    expect(decode({ shape: [0, 2, 4], data: [] }).data.length).toBe(0);
    const scalar = decode({ shape: [], data: [7] });
    expect(scalar.shape).toEqual([]);
    expect([...scalar.data]).toEqual([7]);
  });

  it('reads int64 tensors as integers; the default for index arguments', () => {
    const t = decode({ shape: [3], data: [0, 5, -2] }, asIndex);
    expect(t.dtype).toBe('int64');
    expect(t.data).toBeInstanceOf(Int32Array);
    expect([...t.data]).toEqual([0, 5, -2]);
  });

  it('rejects a length that does not match the shape, naming both', () => {
    expect(formatError({ shape: [2, 3], data: [1, 2, 3] })).toBe(
      'input.data: shape [2, 3] needs 6 elements, but data has 3',
    );
  });

  it('rejects elements of the wrong kind, naming the index', () => {
    expect(formatError({ shape: [2], data: [1, 'nan'] })).toBe(
      'input.data[1]: expected a number or "NaN", "Infinity", "-Infinity", got "nan"',
    );
    expect(formatError({ shape: [2], data: [1, null] })).toMatch(/^input\.data\[1\]: .* got null$/);
    expect(formatError({ shape: [1], data: [1.5] }, asIndex)).toBe(
      'indices.data[0]: expected an integer (int64 tensor), got 1.5',
    );
    expect(formatError({ shape: [1], data: ['NaN'] }, asIndex)).toMatch(/expected an integer/);
    expect(formatError({ shape: [1], data: [2 ** 40] }, asIndex)).toMatch(/outside the supported int64 range/);
  });

  it('rejects bad shapes and dtypes', () => {
    expect(formatError({ shape: [2, -1], data: [] })).toMatch(/^input\.shape\[1\]: .*non-negative integer, got -1/);
    expect(formatError({ shape: [1.5], data: [1] })).toMatch(/^input\.shape\[0\]/);
    expect(formatError({ shape: new Array(17).fill(1), data: [1] })).toMatch(/at most 16 dimensions/);
    expect(formatError({ dtype: 'float16' as never, data: [1] })).toMatch(/^input\.dtype: expected one of float32, float64, int64/);
  });
});

describe('decoding nested data', () => {
  it('infers the shape from the nesting', () => {
    const t = decode({ data: [[[1, 2], [3, 4]], [[5, 6], [7, 8]]] });
    expect(t.shape).toEqual([2, 2, 2]);
    expect([...t.data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('accepts a matching shape and rejects a different one', () => {
    expect(decode({ shape: [1, 2], data: [[1, 2]] }).shape).toEqual([1, 2]);
    expect(formatError({ shape: [2, 1], data: [[1, 2]] })).toBe(
      'input.shape: [2, 1] does not match the nested data, which has shape [1, 2]',
    );
  });

  it('rejects ragged arrays, naming the first bad place', () => {
    expect(formatError({ data: [[1, 2], [3]] })).toBe('input.data[1]: ragged nesting: expected 2 elements, got 1');
    expect(formatError({ data: [[1, 2], 3] })).toMatch(/^input\.data\[1\]: ragged nesting: expected an array/);
    expect(formatError({ data: [[1, [2]], [3, 4]] })).toMatch(/^input\.data\[0\]\[1\]: ragged nesting: expected a number/);
    expect(formatError({ data: [[1, 2], [3, 'x']] })).toBe('input.data[1][1]: expected a number or "NaN", "Infinity", "-Infinity", got "x"');
    expect(formatError({ data: [[[0, 1]], [[2, 2 ** 31]]] }, asIndex)).toBe('indices.data[1][0][1]: 2147483648 is outside the supported int64 range [-2^31, 2^31)');
    expect(formatError({ data: [0, 1.5] }, asIndex)).toBe('indices.data[1]: expected an integer (int64 tensor), got 1.5');
  });

  it('handles empty inner dimensions', () => {
    expect(decode({ data: [[], []] }).shape).toEqual([2, 0]);
  });

  it('refuses nesting deeper than the rank limit without recursing', () => {
    let deep: unknown = [1];
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(formatError({ data: deep as unknown[] })).toMatch(/nested deeper than 16 levels/);
  });
});

describe('decoding base64 data', () => {
  const b64 = (bytes: ArrayBufferView) =>
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

  it('reads little-endian float32 and float64', () => {
    const f32 = new Float32Array([1.5, -2, NaN, Infinity]);
    const t = decode({ shape: [2, 2], dtype: 'float32', data: b64(f32) });
    expect(t.shape).toEqual([2, 2]);
    expect([...t.data]).toEqual([...f32]);
    const f64 = new Float64Array([0.1, -0]);
    const u = decode({ shape: [2], dtype: 'float64', data: b64(f64) });
    expect(u.data[0]).toBe(0.1);
    expect(Object.is(u.data[1], -0)).toBe(true);
  });

  it('reads int64 as 8 bytes per element', () => {
    const wide = new BigInt64Array([0n, 15n, -3n]);
    const t = decode({ shape: [3], data: b64(wide) }, asIndex);
    expect([...t.data]).toEqual([0, 15, -3]);
    expect(formatError({ shape: [1], data: b64(new BigInt64Array([2n ** 40n])) }, asIndex)).toBe(
      'indices.data[0]: 1099511627776 is outside the supported int64 range [-2^31, 2^31)',
    );
  });

  it('rejects bad base64 and byte counts that do not fit the shape', () => {
    expect(formatError({ shape: [1], data: 'not base64!' })).toBe('input.data: not a valid base64 string');
    expect(formatError({ shape: [1], data: 'AAA' })).toBe('input.data: not a valid base64 string');
    expect(formatError({ shape: [2], data: b64(new Float32Array([1])) })).toBe(
      'input.data: shape [2] of float32 needs 8 bytes, but the base64 string holds 4',
    );
    expect(formatError({ data: 'AAAAAAA=' })).toMatch(/5 bytes is not a whole number of float32 elements/);
  });

  it('takes exactly the strings of the standard alphabet with "=" padding at the end', () => {
    // The rule as a pattern; the codec checks it faster (the length decoding promises), which must agree.
    const standard = (text: string) => text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const stray = ['=', '-', '_', ' ', '\n', '\t', '@', '.', '%', 'é', '\u0000', '\u0100', '😀'];
    const char = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...alphabet) }, { weight: 1, arbitrary: fc.constantFrom(...stray) });
    const text = fc.tuple(fc.array(char, { maxLength: 14 }), fc.constantFrom('', '=', '==')).map(([cs, pad]) => cs.join('') + pad);
    fc.assert(
      fc.property(text, (t) => {
        let rejected = false;
        try {
          decodeTensor({ dtype: 'float32', data: t }, asFloat);
        } catch (e) {
          rejected = (e as Error).message.includes('not a valid base64 string');
        }
        expect(rejected).toBe(!standard(t));
      }),
      { numRuns: 3000 },
    );
  });

  it('does not share memory with the decoded string', () => {
    const t = decode({ shape: [2], data: b64(new Float64Array([1, 2])), dtype: 'float64' });
    expect(t.data.byteOffset).toBe(0);
    expect(t.data.buffer.byteLength).toBe(16);
  });
});

describe('size limits', () => {
  it('reports the element count and the limit', () => {
    const opts = { ...asFloat, maxElements: 4 };
    expect(() => decodeTensor({ shape: [5], data: [1, 2, 3, 4, 5] }, opts)).toThrow(TensorSizeError);
    expect(() => decodeTensor({ shape: [1e6, 1e6], data: [] }, opts)).toThrow(TensorSizeError);
    expect(() => decodeTensor({ data: [[1, 2, 3], [4, 5, 6]] }, opts)).toThrow(TensorSizeError);
    expect(() => decodeTensor({ shape: [4], data: [1, 2, 3, 4] }, opts)).not.toThrow();
  });
});

describe('encoding', () => {
  const f32 = (shape: number[], values: number[]): Tensor => ({ shape, dtype: 'float32', data: Float32Array.from(values) });

  it('writes the golden form with the dtype', () => {
    expect(JSON.parse(encodeTensor(f32([2], [1, 0.5])))).toEqual({ shape: [2], dtype: 'float32', data: [1, 0.5] });
  });

  it('writes non-finite values as strings and keeps the sign of zero', () => {
    const text = encodeTensor(f32([4], [NaN, Infinity, -Infinity, -0]));
    const back = JSON.parse(text) as { data: unknown[] };
    expect(back.data.slice(0, 3)).toEqual(['NaN', 'Infinity', '-Infinity']);
    expect(Object.is(back.data[3], -0)).toBe(true);
  });

  it('writes float32 values as the exact widened double, so they parse back bit-identical', () => {
    const t = f32([1], [0.1]);
    const back = JSON.parse(encodeTensor(t)) as { data: number[] };
    expect(back.data[0]).toBe(Math.fround(0.1));
  });

  it('writes int64 tensors as integers', () => {
    const t: Tensor = { shape: [2], dtype: 'int64', data: Int32Array.from([3, -1]) };
    expect(JSON.parse(encodeTensor(t))).toEqual({ shape: [2], dtype: 'int64', data: [3, -1] });
  });

  it('writes several tensors as one object', () => {
    const out = JSON.parse(
      encodeTensors({ output: f32([1], [2]), indices: { shape: [1], dtype: 'int64', data: Int32Array.from([0]) } }),
    );
    expect(Object.keys(out)).toEqual(['output', 'indices']);
  });
});

describe('round trips', () => {
  const dims = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 });
  const tensorOf = (dtype: 'float32' | 'float64' | 'int64') =>
    dims.chain((shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const values =
        dtype === 'int64'
          ? fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: n, maxLength: n })
          : fc.array(dtype === 'float32' ? fc.float() : fc.double(), { minLength: n, maxLength: n });
      return values.map((v) => ({ shape, dtype, values: v }));
    });
  const anyTensor = fc.oneof(tensorOf('float32'), tensorOf('float64'), tensorOf('int64'));

  const same = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    expect(a.length).toBe(b.length);
    for (let i = 0; i < a.length; i++) expect(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i]))).toBe(true);
  };

  it('decode(encode(t)) is t, for JSON and for base64', () => {
    fc.assert(
      fc.property(anyTensor, fc.constantFrom('json' as const, 'base64' as const), ({ shape, dtype, values }, encoding) => {
        const opts: DecodeOptions = { name: 't', defaultDtype: 'float32', maxElements: 10_000 };
        const original = decodeTensor({ shape, dtype, data: values }, opts);
        const back = decodeTensor(JSON.parse(encodeTensor(original, encoding)) as EncodedTensor, opts);
        expect(back.shape).toEqual(shape);
        expect(back.dtype).toBe(dtype);
        same(back.data, original.data);
      }),
      { numRuns: 300 },
    );
  });
});
