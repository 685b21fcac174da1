/**
 * Trained models on disk, laid out like a model repository:
 *
 *   DATA_DIR/models/<name>/<version>/model.json          architecture, parameter list, provenance
 *   DATA_DIR/models/<name>/<version>/model.safetensors   weights, named as PyTorch's state_dict
 *
 * A version is assembled in a staging directory and renamed into place, so a version directory
 * is always complete; versions are never rewritten. Registrations of one name are serialised so
 * two of them cannot take the same version number.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '../kernels/tensor.js';
import { fsyncDirectory, writeFileAtomic, writeJsonAtomic } from '../storage/atomic.js';
import { decodeSafetensors, encodeSafetensors } from '../storage/safetensors.js';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PARTIAL_SUFFIX = '.partial';
export const WEIGHTS_FILE = 'model.safetensors';
export const MODEL_FILE = 'model.json';

export function isModelName(name: string): boolean {
  return NAME_PATTERN.test(name) && !name.endsWith(PARTIAL_SUFFIX);
}

export interface ParameterInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32';
}

/** Where a version came from: a training job, or weights imported from elsewhere. */
export interface Provenance {
  readonly source: 'training' | 'import';
  readonly job_id?: string;
  readonly dataset?: unknown;
  readonly metrics?: unknown;
  readonly training?: unknown;
  readonly [key: string]: unknown;
}

export interface ModelVersionRecord {
  readonly name: string;
  readonly version: number;
  readonly created_at: string;
  /** The model description exactly as it was validated (layers and input_shape). */
  readonly architecture: unknown;
  readonly parameters: readonly ParameterInfo[];
  readonly num_parameters: number;
  readonly provenance: Provenance;
  readonly weights: { readonly file: string; readonly bytes: number; readonly sha256: string };
}

export interface ModelSummary {
  readonly name: string;
  readonly versions: readonly number[];
  readonly latest: number;
  readonly updated_at: string;
}

export interface RegisterInput {
  readonly name: string;
  readonly architecture: unknown;
  /** Parameters in state_dict order. */
  readonly parameters: readonly (readonly [string, Tensor])[];
  readonly provenance: Provenance;
}

export class ModelRegistry {
  private readonly models = new Map<string, Map<number, ModelVersionRecord>>();
  private readonly nameLocks = new Map<string, Promise<unknown>>();

  constructor(readonly root: string) {}

  /** Reloads every complete version and removes staging leftovers of an interrupted registration. */
  async load(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    this.models.clear();
    for (const modelDir of await readdir(this.root, { withFileTypes: true })) {
      if (!modelDir.isDirectory() || !isModelName(modelDir.name)) continue;
      const versions = new Map<number, ModelVersionRecord>();
      for (const versionDir of await readdir(join(this.root, modelDir.name), { withFileTypes: true })) {
        if (!versionDir.isDirectory()) continue;
        const path = join(this.root, modelDir.name, versionDir.name);
        if (versionDir.name.endsWith(PARTIAL_SUFFIX)) {
          await rm(path, { recursive: true, force: true });
          continue;
        }
        if (!/^[1-9][0-9]*$/.test(versionDir.name)) continue;
        try {
          const record = JSON.parse(await readFile(join(path, MODEL_FILE), 'utf8')) as ModelVersionRecord;
          if (record.name === modelDir.name && record.version === Number(versionDir.name)) versions.set(record.version, record);
        } catch {
          // Not a published version: leave it for an operator to inspect.
        }
      }
      if (versions.size > 0) this.models.set(modelDir.name, versions);
    }
  }

  list(): ModelSummary[] {
    return [...this.models.keys()].sort().map((name) => this.summary(name)!);
  }

  summary(name: string): ModelSummary | undefined {
    const versions = this.models.get(name);
    if (!versions || versions.size === 0) return undefined;
    const numbers = [...versions.keys()].sort((a, b) => a - b);
    const latest = numbers[numbers.length - 1]!;
    return { name, versions: numbers, latest, updated_at: versions.get(latest)!.created_at };
  }

  versions(name: string): ModelVersionRecord[] {
    return [...(this.models.get(name)?.values() ?? [])].sort((a, b) => a.version - b.version);
  }

  get(name: string, version?: number): ModelVersionRecord | undefined {
    const versions = this.models.get(name);
    if (!versions) return undefined;
    if (version !== undefined) return versions.get(version);
    const latest = this.summary(name)?.latest;
    return latest === undefined ? undefined : versions.get(latest);
  }

  pathOf(name: string, version: number): string {
    return join(this.root, name, String(version));
  }

  weightsPath(name: string, version: number): string {
    return join(this.pathOf(name, version), WEIGHTS_FILE);
  }

  /** The parameters of a version, by name, in state_dict order. */
  async readParameters(record: ModelVersionRecord): Promise<Map<string, Tensor>> {
    const bytes = await readFile(this.weightsPath(record.name, record.version));
    return decodeSafetensors(bytes).tensors;
  }

  async register(input: RegisterInput): Promise<ModelVersionRecord> {
    if (!isModelName(input.name)) throw new Error(`invalid model name "${input.name}"`);
    return this.withNameLock(input.name, () => this.registerLocked(input));
  }

  private async registerLocked(input: RegisterInput): Promise<ModelVersionRecord> {
    const version = (this.summary(input.name)?.latest ?? 0) + 1;
    const modelDir = join(this.root, input.name);
    const staging = join(modelDir, `${version}${PARTIAL_SUFFIX}`);
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    try {
      const weights = encodeSafetensors(input.parameters, { format: 'pt' });
      await writeFileAtomic(join(staging, WEIGHTS_FILE), weights);
      const record: ModelVersionRecord = {
        name: input.name,
        version,
        created_at: new Date().toISOString(),
        architecture: input.architecture,
        parameters: input.parameters.map(([name, t]) => ({ name, shape: [...t.shape], dtype: 'float32' as const })),
        num_parameters: input.parameters.reduce((n, [, t]) => n + t.data.length, 0),
        provenance: input.provenance,
        weights: { file: WEIGHTS_FILE, bytes: weights.length, sha256: createHash('sha256').update(weights).digest('hex') },
      };
      await writeJsonAtomic(join(staging, MODEL_FILE), record);
      await rename(staging, this.pathOf(input.name, version));
      await fsyncDirectory(modelDir);
      let versions = this.models.get(input.name);
      if (!versions) this.models.set(input.name, (versions = new Map()));
      versions.set(version, record);
      return record;
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }

  async delete(name: string, version: number): Promise<boolean> {
    return this.withNameLock(name, async () => {
      const versions = this.models.get(name);
      if (!versions?.delete(version)) return false;
      if (versions.size === 0) this.models.delete(name);
      const doomed = join(this.root, name, `${version}.deleting${PARTIAL_SUFFIX}`);
      await rename(this.pathOf(name, version), doomed);
      await fsyncDirectory(join(this.root, name));
      await rm(doomed, { recursive: true, force: true });
      return true;
    });
  }

  private async withNameLock<T>(name: string, action: () => Promise<T>): Promise<T> {
    const previous = this.nameLocks.get(name) ?? Promise.resolve();
    const next = previous.then(action, action);
    const settled = next.catch(() => undefined);
    this.nameLocks.set(name, settled);
    try {
      return await next;
    } finally {
      if (this.nameLocks.get(name) === settled) this.nameLocks.delete(name);
    }
  }
}
