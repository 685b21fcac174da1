/**
 * The benchmark harness: what a workload is, how it is timed, and how a result is printed.
 *
 * A workload allocates and fills its inputs once in `prepare` (untimed) and returns the call to time.
 * The harness warms the call up, then takes at least `minRuns` samples (more for fast calls, until
 * `minTimeMs` of samples are collected) and reports the median time per call. A sample of a fast
 * call times a block of back-to-back calls, as torch.utils.benchmark does for the PyTorch figures.
 */
import os from 'node:os';
import { hugePageStatus } from '../src/services/huge-pages.js';
import type { FloatTensor, Tensor } from '../src/kernels/tensor.js';

/** The PyTorch 1.13.1 single-thread figure a workload is compared with (a range when it varies). */
export interface Reference {
  readonly median_ms?: readonly [number, number];
  readonly gflops?: readonly [number, number];
  readonly images_per_s?: readonly [number, number];
}

/** What `prepare` hands back: the call to time and the amount of work one call does. */
export interface Prepared {
  /** One timed call. Its return value is kept alive only until the next call. */
  run(): unknown;
  /** Bytes one call reads plus bytes it writes (see `bytesOf`). */
  readonly bytes: number;
  /** Floating-point operations of one call (a multiply-add counts as 2); gives `gflops`. */
  readonly flops?: number;
  /** Images one call processes; gives `images_per_s`. */
  readonly images?: number;
}

export interface Workload {
  /** Short id, e.g. `A1`, `A1-bwd`, `B1`, `C2`. */
  readonly id: string;
  /** The operator as torch.nn.functional names it, e.g. `max_pool2d`, `max_pool2d_backward`. */
  readonly name: string;
  /** Input shape (NCHW). */
  readonly shape: readonly number[];
  /** Keyword arguments as torch.nn.functional spells them. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Threads the timed call uses; the kernels are single-threaded. */
  readonly threads?: number;
  readonly reference?: Reference;
  /** Allocates and fills the inputs (untimed). May be async, e.g. to load a kernel module. */
  prepare(): Prepared | Promise<Prepared>;
}

/** One line of `--json` output. */
export interface BenchRecord {
  id: string;
  name: string;
  shape: number[];
  params: Record<string, unknown>;
  threads: number;
  runs: number;
  /** Back-to-back calls one run (sample) times; its time is divided by this. */
  calls_per_run: number;
  median_ms: number;
  /** Median CPU time of the process per call (all its threads): close to median_ms on an idle machine. */
  cpu_ms: number;
  gbps: number;
  gflops?: number;
  images_per_s?: number;
  /** With `--rounds N` (N > 1): how many rounds, and the lowest and highest median_ms among them. */
  rounds?: number;
  median_ms_range?: [number, number];
}

export interface MeasureOptions {
  /** Untimed calls before sampling (the first one also happens inside `prepare` for some workloads). */
  readonly warmup: number;
  readonly minRuns: number;
  /** Keep sampling until the samples add up to this, so sub-millisecond calls get enough runs. */
  readonly minTimeMs: number;
  readonly maxRuns: number;
  /**
   * A sample times back-to-back calls until they take about this long and reports the time per
   * call, as torch.utils.benchmark's blocked_autorange does; a call longer than this is a sample
   * on its own, and only such samples are preceded by a forced collection: a block runs in the
   * steady state, collections included, as a service would.
   */
  readonly blockMs: number;
}

export const defaultMeasureOptions: MeasureOptions = { warmup: 2, minRuns: 7, minTimeMs: 1000, maxRuns: 500, blockMs: 10 };

export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * One record for a workload measured in several rounds: the round with the median median_ms (the
 * lower of the middle two for an even count), with the number of rounds and the range of their
 * medians. On a shared host the speed drifts over minutes; rounds show by how much.
 */
export function combineRounds(records: readonly BenchRecord[]): BenchRecord {
  if (records.length === 0) throw new Error('combineRounds needs at least one record');
  const sorted = [...records].sort((a, b) => a.median_ms - b.median_ms);
  const middle = sorted[(sorted.length - 1) >> 1]!;
  if (records.length === 1) return middle;
  return { ...middle, rounds: records.length, median_ms_range: [sorted[0]!.median_ms, sorted[sorted.length - 1]!.median_ms] };
}

/** Drops the previous result's storage before the next sample, when node runs with --expose-gc. */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

/** Times a prepared workload and returns its JSON record. */
export async function measure(workload: Workload, options: MeasureOptions = defaultMeasureOptions): Promise<BenchRecord> {
  let prepared: Prepared | undefined = await workload.prepare();
  const { run, bytes, flops, images } = prepared;
  prepared = undefined;

  let fastest = Infinity;
  for (let i = 0; i < options.warmup; i++) {
    const start = performance.now();
    run();
    fastest = Math.min(fastest, performance.now() - start);
  }
  const callsPerSample = Number.isFinite(fastest) ? Math.max(1, Math.floor(options.blockMs / Math.max(fastest, 1e-3))) : 1;

  const samples: number[] = [];
  const cpuSamples: number[] = [];
  let total = 0;
  while (samples.length < options.minRuns || (total < options.minTimeMs && samples.length < options.maxRuns)) {
    if (callsPerSample === 1) collectGarbage();
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < callsPerSample; i++) run();
    const elapsed = performance.now() - start;
    const cpu = process.cpuUsage(cpuStart);
    samples.push(elapsed / callsPerSample);
    cpuSamples.push((cpu.user + cpu.system) / 1000 / callsPerSample);
    total += elapsed;
  }

  const ms = median(samples);
  const record: BenchRecord = {
    id: workload.id,
    name: workload.name,
    shape: [...workload.shape],
    params: { ...workload.params },
    threads: workload.threads ?? 1,
    runs: samples.length,
    calls_per_run: callsPerSample,
    median_ms: round(ms, 4),
    cpu_ms: round(median(cpuSamples), 4),
    gbps: round(bytes / (ms * 1e6), 3),
  };
  if (flops !== undefined) record.gflops = round(flops / (ms * 1e6), 3);
  if (images !== undefined) record.images_per_s = round(images / (ms / 1e3), 1);
  return record;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Total storage bytes of the given tensors: each counted once, at its real element size. */
export function bytesOf(...tensors: readonly Tensor[]): number {
  let total = 0;
  for (const t of tensors) total += t.data.byteLength;
  return total;
}

/** Every tensor in an op's result: the tensor itself, or the tensor fields of a `{output, indices}` record. */
export function tensorsIn(result: unknown): Tensor[] {
  if (isTensor(result)) return [result];
  if (result !== null && typeof result === 'object') return Object.values(result).filter(isTensor);
  return [];
}

export function isTensor(value: unknown): value is Tensor {
  if (value === null || typeof value !== 'object') return false;
  const { shape, data } = value as { shape?: unknown; data?: unknown };
  return Array.isArray(shape) && ArrayBuffer.isView(data);
}

/** Deterministic uniform values in [-1, 1) (mulberry32), so every run times the same data. */
export function seededFloat32(shape: readonly number[], seed: number): FloatTensor {
  let n = 1;
  for (const d of shape) n *= d;
  const data = new Float32Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return { shape: [...shape], dtype: 'float32', data };
}

/** A stable seed per workload id, so inputs differ between workloads but not between runs. */
export function seedFor(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  /** One-minute load average when the run started: above 1, other processes compete for the cores. */
  load: number;
  /** Whether large tensors sit on transparent huge pages (see src/services/huge-pages.ts). */
  hugePages: boolean;
}

export function machine(): Machine {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    load: round(os.loadavg()[0] ?? 0, 2),
    hugePages: hugePageStatus().active,
  };
}

export function describeMachine(m: Machine = machine()): string {
  return `${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.platform}, load average ${m.load}, ${m.hugePages ? 'transparent huge pages' : '4 KiB pages'} for large tensors`;
}

/** Shape and keyword arguments as PyTorch would print them: `[32, 64, 112, 112]`, `k=3 s=2 p=1`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function formatParams(params: Readonly<Record<string, unknown>>): string {
  return Object.entries(params)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? `(${value.join(', ')})` : String(value)}`)
    .join(' ');
}

function formatRange(range: readonly [number, number] | undefined, unit: string): string {
  if (!range) return '';
  const [lo, hi] = range;
  return lo === hi ? `${formatNumber(lo)} ${unit}` : `${formatNumber(lo)}–${formatNumber(hi)} ${unit}`;
}

function formatNumber(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/**
 * Our time over PyTorch's for the same work (above 1: slower), against the middle of the reference
 * range, from our median wall time or our median CPU time. On a machine busy with other work the
 * CPU-time ratio is the better estimate of what an idle machine would show.
 */
export function timeRatio(record: BenchRecord, reference: Reference | undefined, clock: 'wall' | 'cpu'): number | undefined {
  const mid = (r: readonly [number, number]) => (r[0] + r[1]) / 2;
  let wall: number | undefined;
  if (reference?.images_per_s && record.images_per_s) wall = mid(reference.images_per_s) / record.images_per_s;
  else if (reference?.gflops && record.gflops) wall = mid(reference.gflops) / record.gflops;
  else if (reference?.median_ms) wall = record.median_ms / mid(reference.median_ms);
  if (wall === undefined) return undefined;
  return clock === 'wall' ? wall : (wall * record.cpu_ms) / record.median_ms;
}

type Row = { record: BenchRecord; reference?: Reference };

function ratioCell(row: Row, clock: 'wall' | 'cpu'): string {
  const r = timeRatio(row.record, row.reference, clock);
  return r === undefined ? '' : `${r.toFixed(2)}x`;
}

function referenceCell({ reference }: Row): string {
  return (
    formatRange(reference?.images_per_s, 'img/s') || formatRange(reference?.gflops, 'GFLOP/s') || formatRange(reference?.median_ms, 'ms')
  );
}

interface Column {
  readonly title: string;
  cell(row: Row): string;
}

const optional = (value: number | undefined) => (value === undefined ? '' : formatNumber(value));

const column = {
  id: { title: 'id', cell: (r) => r.record.id },
  workload: { title: 'workload', cell: (r) => r.record.name },
  shape: { title: 'input', cell: (r) => formatShape(r.record.shape) },
  params: { title: 'params', cell: (r) => formatParams(r.record.params) },
  runs: { title: 'runs', cell: (r) => String(r.record.runs) },
  median: { title: 'median ms', cell: (r) => formatNumber(r.record.median_ms) },
  cpu: { title: 'CPU ms', cell: (r) => formatNumber(r.record.cpu_ms) },
  gbps: { title: 'GB/s', cell: (r) => formatNumber(r.record.gbps) },
  gflops: { title: 'GFLOP/s', cell: (r) => optional(r.record.gflops) },
  images: { title: 'images/s', cell: (r) => optional(r.record.images_per_s) },
  reference: { title: 'PyTorch 1.13, 1 thread', cell: referenceCell },
  range: {
    title: 'range ms',
    cell: (r) => (r.record.median_ms_range ? r.record.median_ms_range.map(formatNumber).join('–') : ''),
  },
  wallRatio: { title: 'time/PyTorch (wall)', cell: (r) => ratioCell(r, 'wall') },
  cpuRatio: { title: 'time/PyTorch (CPU)', cell: (r) => ratioCell(r, 'cpu') },
} satisfies Record<string, Column>;

/** A Markdown table with padded columns, so it also reads well as plain text. */
function renderTable(columns: readonly Column[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((c) => c.cell(row)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(columns.map((c) => c.title)), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** The terminal table: every record, every column. */
export function formatTable(rows: readonly Row[]): string {
  return renderTable(Object.values(column).filter((c) => c !== column.range || hasRounds(rows)), rows);
}

const hasRounds = (rows: readonly Row[]) => rows.some((r) => r.record.median_ms_range !== undefined);

/**
 * The README's tables: one per measure (bandwidth, convolution throughput, training throughput),
 * each with the columns that measure needs.
 */
export function formatMarkdown(rows: readonly Row[]): string {
  const { id, workload, shape, params, runs, median, range, cpu, reference, wallRatio, cpuRatio } = column;
  const spread = hasRounds(rows) ? [range] : [];
  const groups: { title: string; measure: Column; rows: Row[] }[] = [
    { title: 'Pooling (GB/s)', measure: column.gbps, rows: rows.filter((r) => r.record.gflops === undefined && r.record.images_per_s === undefined) },
    { title: 'Convolution (GFLOP/s)', measure: column.gflops, rows: rows.filter((r) => r.record.gflops !== undefined) },
    { title: 'Training (images/s)', measure: column.images, rows: rows.filter((r) => r.record.images_per_s !== undefined) },
  ];
  return groups
    .filter((g) => g.rows.length > 0)
    .map((g) => `**${g.title}**\n\n${renderTable([id, workload, shape, params, runs, median, ...spread, cpu, g.measure, reference, wallRatio, cpuRatio], g.rows)}`)
    .join('\n\n');
}
