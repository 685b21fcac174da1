import { describe, expect, it } from 'vitest';
import {
  combineRounds,
  formatMarkdown,
  formatTable,
  measure,
  median,
  seededFloat32,
  timeRatio,
  type BenchRecord,
  type MeasureOptions,
  type Workload,
} from '../../bench/harness.js';
import {
  adaptiveAvgPool2dWorkload,
  avgPool2dBackwardWorkload,
  avgPool2dWorkload,
  maxPool2dBackwardWorkload,
  maxPool2dWorkload,
  poolingWorkloads,
} from '../../bench/pooling.js';

// Tiny and few: these tests check what the harness reports, never how fast anything is.
const quick: MeasureOptions = { warmup: 1, minRuns: 3, minTimeMs: 0, maxRuns: 3, blockMs: 0 };

const copy: Workload = {
  id: 'T1',
  name: 'copy',
  shape: [2, 3, 4, 4],
  params: { scale: 1 },
  prepare() {
    const input = seededFloat32(this.shape, 1);
    return { run: () => input.data.slice(), bytes: 2 * input.data.byteLength, flops: 96, images: 2 };
  },
};

function expectRecordFields(record: Record<string, unknown>): void {
  expect(Object.keys(record)).toEqual(
    expect.arrayContaining(['name', 'shape', 'params', 'threads', 'median_ms', 'cpu_ms', 'gbps']),
  );
  expect(record.threads).toBe(1);
  expect(Number.isFinite(record.median_ms)).toBe(true);
  expect(record.median_ms as number).toBeGreaterThanOrEqual(0);
  expect(typeof record.gbps).toBe('number');
}

describe('bench harness', () => {
  it('reports a JSON record with the required fields, plus gflops and images_per_s when counted', async () => {
    const record = await measure(copy, quick);
    const line = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
    expectRecordFields(line);
    expect(line).toMatchObject({ id: 'T1', name: 'copy', shape: [2, 3, 4, 4], params: { scale: 1 }, runs: 3 });
    expect(typeof line.gflops).toBe('number');
    expect(typeof line.images_per_s).toBe('number');
  });

  it('takes at least minRuns samples', async () => {
    let calls = 0;
    const counted: Workload = { ...copy, prepare: () => ({ run: () => calls++, bytes: 0 }) };
    const record = await measure(counted, { warmup: 2, minRuns: 7, minTimeMs: 0, maxRuns: 7, blockMs: 0 });
    expect(record.runs).toBe(7);
    expect(record.calls_per_run).toBe(1);
    expect(calls).toBe(9);
  });

  it('times a fast call in blocks of back-to-back calls and reports the time per call', async () => {
    let calls = 0;
    const counted: Workload = { ...copy, prepare: () => ({ run: () => calls++, bytes: 0 }) };
    const record = await measure(counted, { warmup: 2, minRuns: 5, minTimeMs: 0, maxRuns: 5, blockMs: 1 });
    expect(record.runs).toBe(5);
    expect(record.calls_per_run).toBeGreaterThan(1);
    expect(calls).toBe(2 + 5 * record.calls_per_run);
  });

  it('combines rounds into the median round with the range of the rounds', () => {
    const at = (median_ms: number, runs: number): BenchRecord => ({ id: 'A9', name: 'pool', shape: [1], params: {}, threads: 1, runs, calls_per_run: 1, median_ms, cpu_ms: median_ms, gbps: 1 / median_ms });
    const combined = combineRounds([at(5, 1), at(3, 2), at(9, 3), at(4, 4)]);
    expect(combined).toMatchObject({ median_ms: 4, runs: 4, rounds: 4, median_ms_range: [3, 9] });
    expect(combineRounds([at(7, 1)])).toEqual(at(7, 1));
    const table = formatMarkdown([{ record: combined }]);
    expect(table).toContain('range ms');
    expect(table).toContain('3.00–9.00');
    expect(formatMarkdown([{ record: at(7, 1) }])).not.toContain('range ms');
  });

  it('takes the middle sample as the median', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('compares with PyTorch on time, from wall time or CPU time, for times and for rates', () => {
    const base: BenchRecord = { id: 'T', name: 't', shape: [], params: {}, threads: 1, runs: 7, calls_per_run: 1, median_ms: 20, cpu_ms: 10, gbps: 0 };
    expect(timeRatio(base, { median_ms: [5, 15] }, 'wall')).toBe(2);
    expect(timeRatio(base, { median_ms: [5, 15] }, 'cpu')).toBe(1);
    expect(timeRatio({ ...base, images_per_s: 100 }, { images_per_s: [150, 250] }, 'wall')).toBe(2);
    expect(timeRatio({ ...base, gflops: 50 }, { gflops: [100, 100] }, 'cpu')).toBe(1);
    expect(timeRatio(base, undefined, 'wall')).toBeUndefined();
  });

  it('fills inputs with the same values for the same seed, in [-1, 1)', () => {
    const a = seededFloat32([3, 5, 7], 42);
    expect(a.data).toEqual(seededFloat32([3, 5, 7], 42).data);
    expect(a.data).not.toEqual(seededFloat32([3, 5, 7], 43).data);
    for (const v of a.data) expect(v >= -1 && v < 1).toBe(true);
  });

  it('prints one table row per record', async () => {
    const record = await measure(copy, quick);
    const table = formatTable([{ record, reference: { median_ms: [1, 2] } }]);
    expect(table.split('\n')).toHaveLength(3);
    expect(table).toContain('| T1 ');
    expect(table).toContain('1.00–2.00 ms');
  });

  it('splits the README tables by measure: GB/s, GFLOP/s, images/s', () => {
    const base: BenchRecord = { id: 'A9', name: 'pool', shape: [1], params: {}, threads: 1, runs: 7, calls_per_run: 1, median_ms: 2, cpu_ms: 1, gbps: 3 };
    const markdown = formatMarkdown([
      { record: base },
      { record: { ...base, id: 'B9', gflops: 4 } },
      { record: { ...base, id: 'C9', images_per_s: 5 } },
    ]);
    const tables = markdown.split(/\n\n\*\*/);
    expect(tables).toHaveLength(3);
    expect(tables[0]).toMatch(/GB\/s[\s\S]*\| A9 /);
    expect(tables[1]).toMatch(/GFLOP\/s[\s\S]*\| B9 /);
    expect(tables[2]).toMatch(/images\/s[\s\S]*\| C9 /);
  });

  it('lists the workloads of the issue', () => {
    expect(poolingWorkloads.map((w) => w.id)).toEqual(['A1', 'A2', 'A3', 'A4', 'A1-bwd', 'A3-bwd']);
  });
});

describe('pooling workloads on tiny shapes', () => {
  const shape = [2, 3, 9, 9];
  const a1 = { kernel_size: 3, stride: 2, padding: 1 };
  const a3 = { kernel_size: 3, stride: 1, padding: 1, count_include_pad: false };

  it('max_pool2d counts the input, the output and the int32 indices', async () => {
    const workload = maxPool2dWorkload('A1', shape, a1);
    expectRecordFields({ ...(await measure(workload, quick)) });
    expect((await workload.prepare()).bytes).toBe(4 * (2 * 3 * 9 * 9 + 2 * (2 * 3 * 5 * 5)));
  });
  it('max_pool2d backward counts grad_output, the indices and grad_input', async () => {
    const workload = maxPool2dBackwardWorkload('A1-bwd', shape, a1);
    expectRecordFields({ ...(await measure(workload, quick)) });
    expect((await workload.prepare()).bytes).toBe(4 * (2 * (2 * 3 * 5 * 5) + 2 * 3 * 9 * 9));
  });
  it('avg_pool2d counts the input and the output', async () => {
    const workload = avgPool2dWorkload('A3', shape, a3);
    expectRecordFields({ ...(await measure(workload, quick)) });
    expect((await workload.prepare()).bytes).toBe(4 * 2 * (2 * 3 * 9 * 9));
  });
  it('avg_pool2d backward counts grad_output and grad_input', async () => {
    const workload = avgPool2dBackwardWorkload('A3-bwd', shape, a3);
    expectRecordFields({ ...(await measure(workload, quick)) });
    expect((await workload.prepare()).bytes).toBe(4 * 2 * (2 * 3 * 9 * 9));
  });
  it('adaptive_avg_pool2d counts the input and the output', async () => {
    const workload = adaptiveAvgPool2dWorkload('A4', shape, { output_size: 1 });
    expectRecordFields({ ...(await measure(workload, quick)) });
    expect((await workload.prepare()).bytes).toBe(4 * (2 * 3 * 9 * 9 + 2 * 3));
  });
});
