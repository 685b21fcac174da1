/**
 * The JSON forms of a tensor, in both directions.
 *
 * A tensor is `{shape, dtype?, data}` where `data` is one of
 * - a flat row-major array (the golden files' form), `shape` then required unless 1-D;
 * - nested arrays, one level per dimension (`shape` optional; if given it must agree);
 * - a base64 string of the little-endian bytes (4 per float32, 8 per float64 or int64).
 * Float elements are JSON numbers or the strings "NaN", "Infinity", "-Infinity"; int64 elements are
 * JSON integers. Decoding checks everything a client can get wrong and names the place in the
 * message (`input.data[2][1]: ...`), so a bad tensor is a 400 and never reaches a kernel.
 */
import type { Dtype, Tensor, TensorData } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';

export const DTYPES = ['float32', 'float64', 'int64'] as const satisfies readonly Dtype[];
export const NON_FINITE = ['NaN', 'Infinity', '-Infinity'] as const;
/** Deeper nesting than this is refused before any recursion. */
export const MAX_RANK = 16;

export type Encoding = 'json' | 'base64';

/** A tensor as it appears in a request, after structural validation. */
export interface EncodedTensor {
  shape?: readonly number[] | undefined;
  dtype?: Dtype | undefined;
  data: readonly unknown[] | string;
}

/** The tensor is malformed: the message says where and how. */
export class TensorFormatError extends Error {
  override readonly name = 'TensorFormatError';
}

/** The tensor is well formed but has more elements than allowed. */
export class TensorSizeError extends Error {
  override readonly name = 'TensorSizeError';
  constructor(
    readonly tensorName: string,
    readonly elements: number,
    readonly limit: number,
  ) {
    super(`${tensorName} has ${elements} elements, more than the limit of ${limit}`);
  }
}

export interface DecodeOptions {
  /** The field name, used as the start of every message (`input`, `grad_output`). */
  name: string;
  /** The dtype when the request gives none: float32 for values, int64 for indices and targets. */
  defaultDtype: Dtype;
  maxElements: number;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const BYTES_PER_ELEMENT: Record<Dtype, number> = { float32: 4, float64: 8, int64: 8 };
// Groups of four with at most two '=' of padding (with the length check below): a flat pattern,
// since a repeated group overflows the regex engine's stack on strings of a few megabytes.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}...` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function checkShape(name: string, shape: readonly number[]): void {
  if (shape.length > MAX_RANK) throw new TensorFormatError(`${name}.shape: at most ${MAX_RANK} dimensions are supported, got ${shape.length}`);
  shape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new TensorFormatError(`${name}.shape[${i}]: a dimension must be a non-negative integer, got ${describe(d)}`);
    }
  });
}

function checkSize(opts: DecodeOptions, shape: readonly number[]): number {
  const n = numel(shape);
  if (n > opts.maxElements) throw new TensorSizeError(opts.name, n, opts.maxElements);
  return n;
}

/** Decodes one tensor from its JSON form; throws TensorFormatError or TensorSizeError. */
export function decodeTensor(encoded: EncodedTensor, opts: DecodeOptions): Tensor {
  const dtype = encoded.dtype ?? opts.defaultDtype;
  if (!(DTYPES as readonly string[]).includes(dtype)) {
    throw new TensorFormatError(`${opts.name}.dtype: expected one of ${DTYPES.join(', ')}, got ${describe(dtype)}`);
  }
  if (encoded.shape !== undefined) checkShape(opts.name, encoded.shape);
  const { data } = encoded;
  if (typeof data === 'string') return decodeBase64(data, dtype, encoded.shape, opts);
  if (!Array.isArray(data)) throw new TensorFormatError(`${opts.name}.data: expected an array or a base64 string, got ${describe(data)}`);
  if (data.length > 0 && Array.isArray(data[0])) return decodeNested(data, dtype, encoded.shape, opts);
  return decodeFlat(data, dtype, encoded.shape, opts);
}

function decodeFlat(data: readonly unknown[], dtype: Dtype, declared: readonly number[] | undefined, opts: DecodeOptions): Tensor {
  const shape = declared ?? [data.length];
  const n = checkSize(opts, shape);
  if (data.length !== n) {
    throw new TensorFormatError(
      `${opts.name}.data: shape [${shape.join(', ')}] needs ${n} elements, but data has ${data.length}`,
    );
  }
  const out = allocate(dtype, n);
  const read = dtype === 'int64' ? readInt : readFloat;
  // Plain numbers are taken as they are; anything else goes through `read` (which names the element).
  if (dtype === 'int64') {
    for (let i = 0; i < n; i++) {
      const v = data[i];
      out[i] = typeof v === 'number' && (v | 0) === v ? v : read(v, opts.name, `[${i}]`);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = data[i];
      out[i] = typeof v === 'number' ? v : read(v, opts.name, `[${i}]`);
    }
  }
  return { shape: [...shape], dtype, data: out };
}

function decodeNested(data: readonly unknown[], dtype: Dtype, declared: readonly number[] | undefined, opts: DecodeOptions): Tensor {
  // The first element at each depth gives the shape; every other array must then agree with it.
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    if (shape.length === MAX_RANK) throw new TensorFormatError(`${opts.name}.data: nested deeper than ${MAX_RANK} levels`);
    shape.push(level.length);
    level = level[0];
  }
  if (declared !== undefined && (declared.length !== shape.length || declared.some((d, i) => d !== shape[i]))) {
    throw new TensorFormatError(
      `${opts.name}.shape: [${declared.join(', ')}] does not match the nested data, which has shape [${shape.join(', ')}]`,
    );
  }
  const n = checkSize(opts, shape);
  const out = allocate(dtype, n);
  const read = dtype === 'int64' ? readInt : readFloat;
  let next = 0;
  // Where the walk is, as indices: the path is spelt out only for an error message.
  const at: number[] = [];
  const path = (depth: number) => at.slice(0, depth).map((i) => `[${i}]`).join('');
  const fill = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) throw new TensorFormatError(`${opts.name}.data${path(depth)}: ragged nesting: expected a number, got an array`);
      out[next++] = typeof node === 'number' && (dtype !== 'int64' || (node | 0) === node) ? node : read(node, opts.name, path(depth));
      return;
    }
    if (!Array.isArray(node)) {
      throw new TensorFormatError(`${opts.name}.data${path(depth)}: ragged nesting: expected an array of ${shape[depth]}, got ${describe(node)}`);
    }
    if (node.length !== shape[depth]) {
      throw new TensorFormatError(
        `${opts.name}.data${path(depth)}: ragged nesting: expected ${shape[depth]} elements, got ${node.length}`,
      );
    }
    for (let i = 0; i < node.length; i++) {
      at[depth] = i;
      fill(node[i], depth + 1);
    }
  };
  fill(data, 0);
  return { shape, dtype, data: out };
}

function readFloat(value: unknown, name: string, path: string): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  throw new TensorFormatError(`${name}.data${path}: expected a number or "NaN", "Infinity", "-Infinity", got ${describe(value)}`);
}

function readInt(value: unknown, name: string, path: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) return value;
  if (typeof value === 'number' && Number.isInteger(value)) {
    throw new TensorFormatError(`${name}.data${path}: ${value} is outside the supported int64 range [-2^31, 2^31)`);
  }
  throw new TensorFormatError(`${name}.data${path}: expected an integer (int64 tensor), got ${describe(value)}`);
}

/**
 * The bytes of a standard base64 string (A-Z a-z 0-9 + /, "=" padding at the end only), or null.
 * Node's decoder skips what is not base64 (and also reads the URL-safe "-" and "_"), so a string
 * is valid when it holds neither "-" nor "_" and decodes to all the bytes its length promises:
 * any other stray character is skipped and leaves the result a byte short. That check agrees with
 * /^[A-Za-z0-9+/]*={0,2}$/ and costs a seventh of it on megabytes of data.
 */
function base64Bytes(text: string): Buffer | null {
  if (text.length % 4 !== 0 || text.includes('-') || text.includes('_')) return null;
  const bytes = Buffer.from(text, 'base64');
  const promised = (text.length / 4) * 3 - (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0);
  return bytes.length === promised ? bytes : null;
}

function decodeBase64(text: string, dtype: Dtype, declared: readonly number[] | undefined, opts: DecodeOptions): Tensor {
  const bytes = base64Bytes(text);
  if (!bytes) throw new TensorFormatError(`${opts.name}.data: not a valid base64 string`);
  const byteLength = bytes.length;
  const width = BYTES_PER_ELEMENT[dtype];
  if (declared === undefined && byteLength % width !== 0) {
    throw new TensorFormatError(`${opts.name}.data: ${byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const shape = declared ?? [byteLength / width];
  const n = checkSize(opts, shape);
  if (byteLength !== n * width) {
    throw new TensorFormatError(
      `${opts.name}.data: shape [${shape.join(', ')}] of ${dtype} needs ${n * width} bytes, but the base64 string holds ${byteLength}`,
    );
  }
  // Copy into storage of our own: Buffer.from may hand back a slice of a shared, unaligned pool.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = allocate(dtype, n);
  if (dtype === 'int64') {
    for (let i = 0; i < n; i++) {
      const low = view.getInt32(8 * i, true);
      const high = view.getInt32(8 * i + 4, true);
      if (high !== (low < 0 ? -1 : 0)) {
        const value = BigInt(high) * 2n ** 32n + BigInt(low >>> 0);
        throw new TensorFormatError(`${opts.name}.data[${i}]: ${value} is outside the supported int64 range [-2^31, 2^31)`);
      }
      out[i] = low;
    }
  } else if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    for (let i = 0; i < n; i++) out[i] = dtype === 'float32' ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
  }
  return { shape: [...shape], dtype, data: out };
}

/** One float as JSON: non-finite values as strings, negative zero keeping its sign. */
function floatJson(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0';
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

function dataJson(data: TensorData, dtype: Dtype): string {
  if (dtype === 'int64') return JSON.stringify(Array.from(data));
  // Fast path through the native serializer unless a value needs the string or signed-zero forms.
  let plain = true;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v) || Object.is(v, -0)) {
      plain = false;
      break;
    }
  }
  if (plain) return JSON.stringify(Array.from(data));
  const parts = new Array<string>(data.length);
  for (let i = 0; i < data.length; i++) parts[i] = floatJson(data[i]!);
  return `[${parts.join(',')}]`;
}

/** The little-endian bytes of a tensor's elements, int64 widened to 8 bytes each. */
export function tensorBytes(t: Tensor): Buffer {
  const { data } = t;
  if (t.dtype !== 'int64' && LITTLE_ENDIAN_HOST) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const bytes = Buffer.alloc(data.length * BYTES_PER_ELEMENT[t.dtype]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (t.dtype === 'int64') {
      view.setInt32(8 * i, v, true);
      view.setInt32(8 * i + 4, v < 0 ? -1 : 0, true);
    } else if (t.dtype === 'float64') {
      view.setFloat64(8 * i, v, true);
    } else {
      view.setFloat32(4 * i, v, true);
    }
  }
  return bytes;
}

/** The JSON text of a tensor in a reply: `{"shape":[...],"dtype":"...","data":...}`. */
export function encodeTensor(t: Tensor, encoding: Encoding = 'json'): string {
  const data = encoding === 'base64' ? JSON.stringify(tensorBytes(t).toString('base64')) : dataJson(t.data, t.dtype);
  return `{"shape":${JSON.stringify(t.shape)},"dtype":"${t.dtype}","data":${data}}`;
}

/** The JSON text of an object of named tensors, in the order given. */
export function encodeTensors(tensors: Readonly<Record<string, Tensor>>, encoding: Encoding = 'json'): string {
  const fields = Object.entries(tensors).map(([name, t]) => `${JSON.stringify(name)}:${encodeTensor(t, encoding)}`);
  return `{${fields.join(',')}}`;
}
