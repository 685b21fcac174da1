import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, SafetensorsFormatError } from '../../src/storage/safetensors.js';
import type { Tensor } from '../../src/kernels/tensor.js';

/** Builds a file byte by byte from the format description, independently of the encoder. */
function handMade(headerJson: string, data: number[]): Uint8Array {
  const header = Buffer.from(headerJson, 'utf8');
  const out = Buffer.alloc(8 + header.length + data.length);
  out.writeBigUInt64LE(BigInt(header.length), 0);
  header.copy(out, 8);
  Buffer.from(data).copy(out, 8 + header.length);
  return new Uint8Array(out);
}

const f32 = (v: number) => [...Buffer.from(new Float32Array([v]).buffer)];

describe('safetensors', () => {
  it('reads a file laid out per the format description', () => {
    const bytes = handMade(
      '{"__metadata__":{"format":"pt"},"fc.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},' +
        '"idx":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}',
      [...f32(1.5), ...f32(-2), 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    );
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['fc.weight', 'idx']);
    const w = tensors.get('fc.weight')!;
    expect(w.dtype).toBe('float32');
    expect(w.shape).toEqual([1, 2]);
    expect([...w.data]).toEqual([1.5, -2]);
    expect([...tensors.get('idx')!.data]).toEqual([-2]);
  });

  it('writes the header length, JSON header padded with spaces to 8 bytes, then little-endian data', () => {
    const weight: Tensor = { shape: [2], dtype: 'float32', data: new Float32Array([1, 0.5]) };
    const bias: Tensor = { shape: [], dtype: 'float64', data: new Float64Array([-3]) };
    const bytes = encodeSafetensors([['conv1.weight', weight], ['conv1.bias', bias]], { format: 'pt' });
    const buf = Buffer.from(bytes);
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const headerText = buf.subarray(8, 8 + n).toString('utf8');
    expect(headerText.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"conv1.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
        '"conv1.bias":{"dtype":"F64","shape":[],"data_offsets":[8,16]}}',
    );
    expect(/^ *$/.test(headerText.slice(headerText.trimEnd().length))).toBe(true);
    expect(buf.readFloatLE(8 + n)).toBe(1);
    expect(buf.readFloatLE(8 + n + 4)).toBe(0.5);
    expect(buf.readDoubleLE(8 + n + 8)).toBe(-3);
    expect(buf.length).toBe(8 + n + 16);
  });

  it('round-trips every supported dtype, empty tensors and special floats bit for bit', () => {
    const tensors: [string, Tensor][] = [
      ['a', { shape: [2, 2], dtype: 'float32', data: new Float32Array([NaN, -0, Infinity, 1e-45]) }],
      ['b', { shape: [0, 3], dtype: 'float32', data: new Float32Array(0) }],
      ['c', { shape: [3], dtype: 'int64', data: new Int32Array([-2147483648, 0, 2147483647]) }],
      ['d', { shape: [1], dtype: 'float64', data: new Float64Array([Math.PI]) }],
    ];
    const back = decodeSafetensors(encodeSafetensors(tensors));
    expect(back.metadata).toEqual({});
    for (const [name, t] of tensors) {
      const r = back.tensors.get(name)!;
      expect(r.dtype).toBe(t.dtype);
      expect(r.shape).toEqual(t.shape);
      expect(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength)).toEqual(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      );
    }
  });

  const corrupt: [string, Uint8Array, RegExp][] = [
    ['a file shorter than the length prefix', new Uint8Array(5), /too short/],
    ['a header length past the end', handMade('{}', []).map((b, i) => (i === 0 ? 200 : b)), /runs past the end/],
    ['a header that is not JSON', handMade('{nope', []), /not valid JSON/],
    ['a header that is not an object', handMade('[1]', []), /starting with/],
    ['an unsupported dtype', handMade('{"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', [0, 0]), /unsupported dtype "F16"/],
    ['a size that does not match the shape', handMade('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /needs 8/],
    ['a gap between tensors', handMade('{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', [0, 0, 0, 0, 0, 0, 0, 0]), /expected 0/],
    ['trailing bytes', handMade('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0, 9]), /data part holds 5/],
    ['negative shape', handMade('{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}', []), /non-negative/],
    ['non-string metadata', handMade('{"__metadata__":{"epoch":3}}', []), /must be a string/],
    [
      'an int64 outside the 32-bit range',
      handMade('{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', [0, 0, 0, 0, 1, 0, 0, 0]),
      /outside the supported 32-bit range/,
    ],
  ];
  it.each(corrupt)('rejects %s', (_what, bytes, message) => {
    expect(() => decodeSafetensors(bytes)).toThrow(SafetensorsFormatError);
    expect(() => decodeSafetensors(bytes)).toThrow(message);
  });
});
