/**
 * The IDX format MNIST-family datasets are published in (raw or gzip):
 *
 *   magic     4 bytes, big-endian: 0x00 0x00 <element type> <number of dimensions>
 *   dims      one 32-bit big-endian size per dimension
 *   data      the elements, row-major
 *
 * Images are 0x00000803 (unsigned bytes, [count, rows, cols]); labels are 0x00000801 (unsigned
 * bytes, [count]). Anything else, or a length that disagrees with the dimensions, is rejected.
 */
import { gunzipSync } from 'node:zlib';
import buffer from 'node:buffer';

export class IdxFormatError extends Error {
  override readonly name = 'IdxFormatError';
}

export const IMAGES_MAGIC = 0x00000803;
export const LABELS_MAGIC = 0x00000801;

export interface IdxImages {
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  /** count * rows * cols pixels, 0..255, row-major. */
  readonly pixels: Uint8Array;
}

export interface IdxLabels {
  readonly count: number;
  readonly labels: Uint8Array;
}

const hex = (v: number) => '0x' + v.toString(16).padStart(8, '0');

function fail(what: string, message: string): never {
  throw new IdxFormatError(`${what}: ${message}`);
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Inflates gzip input (bounded, so a small bomb cannot fill memory); raw input passes through. */
export function inflateIfGzip(bytes: Uint8Array, what: string, maxBytes: number): Uint8Array {
  if (!isGzip(bytes)) {
    if (bytes.length > maxBytes) fail(what, `${bytes.length} bytes exceeds the ${maxBytes}-byte limit`);
    return bytes;
  }
  try {
    return gunzipSync(bytes, { maxOutputLength: Math.min(maxBytes, buffer.kMaxLength) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      fail(what, `decompressed size exceeds the ${maxBytes}-byte limit`);
    }
    fail(what, `not a valid gzip stream (${(err as Error).message})`);
  }
}

function readHeader(bytes: Uint8Array, what: string, magic: number): number[] {
  const ndims = magic & 0xff;
  if (bytes.length < 4) fail(what, `file too short (${bytes.length} bytes) for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    fail(what, `expected IDX magic ${hex(magic)} (unsigned bytes, ${ndims} dimension${ndims > 1 ? 's' : ''}), got ${hex(found)}`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) fail(what, `file too short (${bytes.length} bytes) for a ${ndims}-dimensional IDX header`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = headerBytes + dims.reduce((a, d) => a * d, 1);
  if (bytes.length !== expected) {
    fail(what, `dimensions [${dims.join(', ')}] need ${expected} bytes but the file has ${bytes.length}`);
  }
  return dims;
}

export function parseImages(bytes: Uint8Array, maxBytes = Number.MAX_SAFE_INTEGER): IdxImages {
  const raw = inflateIfGzip(bytes, 'images', maxBytes);
  const [count, rows, cols] = readHeader(raw, 'images', IMAGES_MAGIC) as [number, number, number];
  if (count === 0 || rows === 0 || cols === 0) fail('images', `empty dimensions [${count}, ${rows}, ${cols}]`);
  return { count, rows, cols, pixels: raw.subarray(16) };
}

export function parseLabels(bytes: Uint8Array, maxBytes = Number.MAX_SAFE_INTEGER): IdxLabels {
  const raw = inflateIfGzip(bytes, 'labels', maxBytes);
  const [count] = readHeader(raw, 'labels', LABELS_MAGIC) as [number];
  if (count === 0) fail('labels', 'no labels');
  return { count, labels: raw.subarray(8) };
}

/** Images and labels belong together only when they count the same examples. */
export function checkPair(images: IdxImages, labels: IdxLabels): void {
  if (images.count !== labels.count) {
    throw new IdxFormatError(`images and labels do not match: ${images.count} images but ${labels.count} labels`);
  }
}

/** Encodes IDX bytes (for tests and for exporting datasets). */
export function encodeIdx(magic: number, dims: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
