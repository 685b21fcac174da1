/**
 * Job records on disk: DATA_DIR/jobs/<id>/job.json (plus the job's checkpoint files beside it).
 * Every save replaces job.json atomically; saves of one job are serialised and coalesced, so the
 * file always ends up holding the newest snapshot even when saves overlap.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isTemporaryName, writeJsonAtomic } from '../storage/atomic.js';
import type { JobState, Transition } from './state.js';

export interface EpochMetrics {
  readonly epoch: number;
  readonly train_loss: number;
  readonly train_accuracy?: number;
  readonly test_loss?: number;
  readonly test_accuracy?: number;
  readonly seconds?: number;
}

export interface JobProgress {
  readonly epoch: number;
  readonly epochs: number;
  /** Batches done in the current epoch. */
  readonly step: number;
  readonly steps_per_epoch: number;
  /** Batches done over the whole job, and in total. */
  readonly global_step: number;
  readonly total_steps: number;
  readonly images_per_second: number | null;
  readonly eta_seconds: number | null;
}

export interface CheckpointInfo {
  readonly epoch: number;
  /** Batches done in `epoch` when it was taken (0 at an epoch boundary). */
  readonly step: number;
  readonly global_step: number;
  readonly saved_at: string;
}

export interface JobRecord {
  readonly id: string;
  state: JobState;
  readonly created_at: string;
  updated_at: string;
  transitions: Transition[];
  /** The validated request, normalised (defaults filled in). */
  readonly spec: unknown;
  progress: JobProgress | null;
  metrics: EpochMetrics[];
  checkpoint: CheckpointInfo | null;
  model: { readonly name: string; readonly version: number } | null;
  error: { readonly code: string; readonly message: string } | null;
}

const ID_PATTERN = /^job_[0-9a-f]{16}$/;

export function isJobId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export function newJobId(): string {
  return `job_${randomBytes(8).toString('hex')}`;
}

export class JobStore {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly writing = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();

  constructor(readonly root: string) {}

  async load(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    this.jobs.clear();
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || !isJobId(entry.name)) continue;
      const dir = this.dirOf(entry.name);
      for (const name of await readdir(dir)) if (isTemporaryName(name)) await rm(join(dir, name), { force: true });
      try {
        const job = JSON.parse(await readFile(join(dir, 'job.json'), 'utf8')) as JobRecord;
        if (job.id === entry.name) this.jobs.set(job.id, job);
      } catch {
        // A job directory whose record was never written completely: the job was never accepted.
      }
    }
  }

  dirOf(id: string): string {
    return join(this.root, id);
  }

  get(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }

  /** Oldest first. */
  all(): JobRecord[] {
    return [...this.jobs.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Adds a new job and waits until its record is on disk. */
  async create(job: JobRecord): Promise<void> {
    this.jobs.set(job.id, job);
    await this.save(job.id);
  }

  /** Persists the job's current in-memory record; resolves once a snapshot at least this new is on disk. */
  save(id: string): Promise<void> {
    this.dirty.add(id);
    const previous = this.writing.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.flush(id));
    this.writing.set(id, next);
    void next.finally(() => {
      if (this.writing.get(id) === next) this.writing.delete(id);
    });
    return next;
  }

  private async flush(id: string): Promise<void> {
    if (!this.dirty.delete(id)) return; // an earlier flush already wrote this snapshot
    const job = this.jobs.get(id);
    if (job) await writeJsonAtomic(join(this.dirOf(id), 'job.json'), job);
  }

  /** Waits for every pending write (used on shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.writing.values()]);
  }
}
