/**
 * The safetensors format (huggingface/safetensors), so weights round-trip with
 * `safetensors.torch.save_file` / `load_file`:
 *
 *   8 bytes   N, the header length, unsigned 64-bit little-endian
 *   N bytes   UTF-8 JSON: {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *             ..., "__metadata__": {"<key>": "<string>"}}   (optional metadata, strings only)
 *   rest      the tensors' little-endian bytes; offsets are relative to the start of this part
 *
 * Reading validates like the reference implementation: the header fits the file, every tensor's
 * byte range matches its dtype and shape, and the ranges tile the data part with no gap or overlap.
 */
import { allocate } from '../kernels/storage.js';
import type { Dtype, Tensor } from '../kernels/tensor.js';

export class SafetensorsFormatError extends Error {
  override readonly name = 'SafetensorsFormatError';
}

/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

const fileDtypes = { float32: 'F32', float64: 'F64', int64: 'I64' } as const satisfies Record<Dtype, string>;
const elementBytes = { F32: 4, F64: 8, I64: 8 } as const;
type FileDtype = keyof typeof elementBytes;

const tensorDtypes: Record<FileDtype, Dtype> = { F32: 'float32', F64: 'float64', I64: 'int64' };

export interface SafetensorsContent {
  /** Tensors in the order of their byte ranges (the order they were written in). */
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Record<string, string>;
}

/**
 * Serialises tensors in the given order (pass them in `state_dict` order). The header is padded
 * with spaces to a multiple of 8 bytes, as the reference writer does, so the data is aligned.
 */
export function encodeSafetensors(
  tensors: Iterable<readonly [string, Tensor]>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header[METADATA_KEY] = { ...metadata };
  const entries = [...tensors];
  let offset = 0;
  for (const [name, tensor] of entries) {
    if (name === METADATA_KEY) throw new SafetensorsFormatError(`a tensor cannot be named ${METADATA_KEY}`);
    if (name in header) throw new SafetensorsFormatError(`duplicate tensor name "${name}"`);
    const dtype = fileDtypes[tensor.dtype];
    const length = tensor.data.length * elementBytes[dtype];
    header[name] = { dtype, shape: [...tensor.shape], data_offsets: [offset, offset + length] };
    offset += length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);

  let position = 8 + headerLength;
  for (const [, tensor] of entries) {
    const { data } = tensor;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      switch (tensor.dtype) {
        case 'float32':
          view.setFloat32(position, v, true);
          position += 4;
          break;
        case 'float64':
          view.setFloat64(position, v, true);
          position += 8;
          break;
        case 'int64':
          view.setBigInt64(position, BigInt(v), true);
          position += 8;
          break;
      }
    }
  }
  return out;
}

function fail(message: string): never {
  throw new SafetensorsFormatError(message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface Entry {
  name: string;
  dtype: FileDtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, info: unknown): Entry {
  if (!isRecord(info)) fail(`tensor "${name}": expected an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string') fail(`tensor "${name}": dtype must be a string`);
  if (!(dtype in elementBytes)) {
    fail(`tensor "${name}": unsupported dtype "${dtype}" (supported: ${Object.keys(elementBytes).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail(`tensor "${name}": shape must be a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail(`tensor "${name}": data_offsets must be [begin, end] with 0 <= begin <= end`);
  }
  const size = shape.reduce((a: number, d: number) => a * d, 1);
  if (!Number.isSafeInteger(size)) fail(`tensor "${name}": shape ${JSON.stringify(shape)} is too large`);
  const fileDtype = dtype as FileDtype;
  const [begin, end] = offsets as [number, number];
  if (end - begin !== size * elementBytes[fileDtype]) {
    fail(
      `tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes, ` +
        `but ${dtype} with shape ${JSON.stringify(shape)} needs ${size * elementBytes[fileDtype]}`,
    );
  }
  return { name, dtype: fileDtype, shape: shape as number[], begin, end };
}

function readTensor(view: DataView, dataStart: number, entry: Entry): Tensor {
  const dtype = tensorDtypes[entry.dtype];
  const count = (entry.end - entry.begin) / elementBytes[entry.dtype];
  const data = allocate(dtype, count);
  let position = dataStart + entry.begin;
  for (let i = 0; i < count; i++) {
    switch (entry.dtype) {
      case 'F32':
        data[i] = view.getFloat32(position, true);
        position += 4;
        break;
      case 'F64':
        data[i] = view.getFloat64(position, true);
        position += 8;
        break;
      case 'I64': {
        const v = view.getBigInt64(position, true);
        // int64 tensors are held as 32-bit integers in memory (see kernels/tensor.ts).
        if (v < -2147483648n || v > 2147483647n) {
          fail(`tensor "${entry.name}": int64 value ${v} at element ${i} is outside the supported 32-bit range`);
        }
        data[i] = Number(v);
        position += 8;
        break;
      }
    }
  }
  return { shape: entry.shape, dtype, data };
}

export function decodeSafetensors(bytes: Uint8Array): SafetensorsContent {
  if (bytes.length < 8) fail(`file too short: ${bytes.length} bytes, a safetensors file starts with an 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(`header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    fail(`header length ${headerLength} runs past the end of the ${bytes.length}-byte file`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header must be a JSON object starting with "{"');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch {
    fail('header is not valid JSON');
  }
  if (!isRecord(header)) fail('header must be a JSON object');

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isRecord(info)) fail(`${METADATA_KEY} must be an object of strings`);
      for (const [key, value] of Object.entries(info)) {
        if (typeof value !== 'string') fail(`${METADATA_KEY}.${key} must be a string`);
        metadata[key] = value;
      }
      continue;
    }
    entries.push(parseEntry(name, info));
  }

  // Byte ranges must tile the data part exactly, as the reference reader demands.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  let expected = 0;
  for (const entry of entries) {
    if (entry.begin !== expected) {
      fail(`tensor "${entry.name}": data_offsets start at ${entry.begin}, expected ${expected} (gap or overlap)`);
    }
    expected = entry.end;
  }
  if (expected !== dataLength) {
    fail(`tensors cover ${expected} bytes but the data part holds ${dataLength}`);
  }

  const tensors = new Map<string, Tensor>();
  for (const entry of entries) tensors.set(entry.name, readTensor(view, dataStart, entry));
  return { tensors, metadata };
}
