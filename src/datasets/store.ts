/**
 * Uploaded datasets on disk: DATA_DIR/datasets/<id>/{dataset.json, images.idx[.gz], labels.idx[.gz]}.
 *
 * An upload is streamed into a staging directory, validated as a whole, and only then renamed into
 * place, so a dataset directory without the `.partial` suffix is always complete. Staging
 * directories left by a crash are removed on start.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fsyncDirectory, writeJsonAtomic } from '../storage/atomic.js';
import { checkPair, IdxFormatError, isGzip, parseImages, parseLabels, type IdxImages, type IdxLabels } from './idx.js';

export type DatasetPart = 'images' | 'labels';

export interface DatasetFile {
  readonly file: string;
  readonly bytes: number;
  readonly gzip: boolean;
  readonly original_name?: string;
}

export interface DatasetRecord {
  readonly id: string;
  readonly name: string;
  readonly created_at: string;
  readonly count: number;
  /** The shape of one example as a model sees it: [1, rows, cols]. */
  readonly example_shape: [1, number, number];
  /** Largest label + 1: the fewest output classes a model needs. */
  readonly num_classes: number;
  readonly label_counts: number[];
  readonly files: Readonly<Record<DatasetPart, DatasetFile>>;
}

export interface DatasetLimits {
  /** Upper bound on each uploaded file, compressed or not. */
  readonly maxUploadBytes: number;
  /** Upper bound on each file after gunzip. */
  readonly maxDecompressedBytes: number;
}

export class DatasetTooLargeError extends Error {
  override readonly name = 'DatasetTooLargeError';
}

const PARTIAL_SUFFIX = '.partial';
const ID_PATTERN = /^ds_[0-9a-f]{16}$/;

export function isDatasetId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Passes bytes through until `limit` is exceeded, then fails the stream. */
function byteLimit(limit: number, part: DatasetPart): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new DatasetTooLargeError(`${part} upload exceeds the ${limit}-byte limit`));
      else callback(null, chunk);
    },
  });
}

export class DatasetUpload {
  private readonly received = new Map<DatasetPart, DatasetFile>();

  constructor(
    private readonly store: DatasetStore,
    readonly id: string,
    readonly stagingDir: string,
  ) {}

  /** Streams one part to disk; the stream's own limit (e.g. multipart's) may also cut it short. */
  async receive(part: DatasetPart, source: Readable, originalName?: string): Promise<void> {
    if (this.received.has(part)) throw new IdxFormatError(`${part}: sent more than once`);
    const file = `${part}.idx`;
    const path = join(this.stagingDir, file);
    await pipeline(source, byteLimit(this.store.limits.maxUploadBytes, part), createWriteStream(path, { flags: 'wx' }));
    const handle = await open(path, 'r+');
    let bytes: number;
    let head: Uint8Array;
    try {
      await handle.sync();
      bytes = (await handle.stat()).size;
      head = new Uint8Array(2);
      await handle.read(head, 0, 2, 0);
    } finally {
      await handle.close();
    }
    const gzip = isGzip(head);
    this.received.set(part, { file: gzip ? `${file}.gz` : file, bytes, gzip, ...(originalName ? { original_name: originalName } : {}) });
    if (gzip) await rename(path, join(this.stagingDir, `${file}.gz`));
  }

  /** Validates both parts together and publishes the dataset. */
  async commit(name: string): Promise<DatasetRecord> {
    const imagesFile = this.received.get('images');
    const labelsFile = this.received.get('labels');
    if (!imagesFile || !labelsFile) {
      const missing = (['images', 'labels'] as const).filter((p) => !this.received.has(p));
      throw new IdxFormatError(`missing file part${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
    }
    const { images, labels } = await readDatasetFiles(this.stagingDir, { images: imagesFile, labels: labelsFile }, this.store.limits.maxDecompressedBytes);
    const labelCounts: number[] = [];
    for (const label of labels.labels) labelCounts[label] = (labelCounts[label] ?? 0) + 1;
    const record: DatasetRecord = {
      id: this.id,
      name,
      created_at: new Date().toISOString(),
      count: images.count,
      example_shape: [1, images.rows, images.cols],
      num_classes: labelCounts.length,
      label_counts: Array.from(labelCounts, (c) => c ?? 0),
      files: { images: imagesFile, labels: labelsFile },
    };
    await writeJsonAtomic(join(this.stagingDir, 'dataset.json'), record);
    await rename(this.stagingDir, this.store.pathOf(this.id));
    await fsyncDirectory(this.store.root);
    this.store.add(record);
    return record;
  }

  async abort(): Promise<void> {
    await rm(this.stagingDir, { recursive: true, force: true });
  }
}

/** Reads and validates a dataset's two files (shared by upload validation and training). */
export async function readDatasetFiles(
  dir: string,
  files: Readonly<Record<DatasetPart, DatasetFile>>,
  maxDecompressedBytes: number,
): Promise<{ images: IdxImages; labels: IdxLabels }> {
  const images = parseImages(await readFile(join(dir, files.images.file)), maxDecompressedBytes);
  const labels = parseLabels(await readFile(join(dir, files.labels.file)), maxDecompressedBytes);
  checkPair(images, labels);
  return { images, labels };
}

export class DatasetStore {
  private readonly records = new Map<string, DatasetRecord>();

  constructor(
    readonly root: string,
    readonly limits: DatasetLimits,
  ) {}

  /** Loads every complete dataset and removes staging leftovers of an interrupted upload. */
  async load(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    this.records.clear();
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      if (entry.name.endsWith(PARTIAL_SUFFIX)) {
        await rm(join(this.root, entry.name), { recursive: true, force: true });
        continue;
      }
      if (!isDatasetId(entry.name)) continue;
      try {
        const record = JSON.parse(await readFile(join(this.root, entry.name, 'dataset.json'), 'utf8')) as DatasetRecord;
        if (record.id === entry.name) this.records.set(record.id, record);
      } catch {
        // A directory without a readable record was never published: leave it for an operator.
      }
    }
  }

  pathOf(id: string): string {
    return join(this.root, id);
  }

  add(record: DatasetRecord): void {
    this.records.set(record.id, record);
  }

  list(): DatasetRecord[] {
    return [...this.records.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  get(id: string): DatasetRecord | undefined {
    return this.records.get(id);
  }

  async beginUpload(): Promise<DatasetUpload> {
    const id = `ds_${randomBytes(8).toString('hex')}`;
    const stagingDir = join(this.root, id + PARTIAL_SUFFIX);
    await mkdir(stagingDir, { recursive: true });
    return new DatasetUpload(this, id, stagingDir);
  }

  async read(id: string): Promise<{ images: IdxImages; labels: IdxLabels }> {
    const record = this.records.get(id);
    if (!record) throw new Error(`unknown dataset ${id}`);
    return readDatasetFiles(this.pathOf(id), record.files, this.limits.maxDecompressedBytes);
  }

  async delete(id: string): Promise<boolean> {
    if (!this.records.delete(id)) return false;
    // Rename first so a crash mid-delete leaves a staging leftover, not a half-deleted dataset.
    const doomed = join(this.root, id + '.deleting' + PARTIAL_SUFFIX);
    await rename(this.pathOf(id), doomed);
    await fsyncDirectory(this.root);
    await rm(doomed, { recursive: true, force: true });
    return true;
  }
}
