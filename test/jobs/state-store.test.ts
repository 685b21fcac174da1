import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canTransition, InvalidTransitionError, isTerminal, JOB_STATES, transition } from '../../src/jobs/state.js';
import { JobStore, newJobId, type JobRecord } from '../../src/jobs/store.js';
import { inflateSync } from 'node:zlib';
import { renderMetricsPng } from '../../src/render/metrics-png.js';
import { renderMetricsSvg } from '../../src/render/metrics-svg.js';

describe('job state machine', () => {
  it('allows exactly the documented transitions', () => {
    const edges = JOB_STATES.flatMap((from) => JOB_STATES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`));
    expect(edges.sort()).toEqual(
      [
        'queued->running',
        'queued->cancelled',
        'queued->failed',
        'running->succeeded',
        'running->failed',
        'running->cancelling',
        'running->queued',
        'cancelling->cancelled',
        'cancelling->failed',
      ].sort(),
    );
    expect(JOB_STATES.filter(isTerminal)).toEqual(['succeeded', 'failed', 'cancelled']);
  });

  it('timestamps a transition and refuses an illegal one', () => {
    const at = new Date('2024-01-02T03:04:05.000Z');
    expect(transition('queued', 'running', undefined, at)).toEqual({ state: 'running', at: '2024-01-02T03:04:05.000Z' });
    expect(() => transition('succeeded', 'running')).toThrow(InvalidTransitionError);
  });
});

describe('job store', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'convpool-jobs-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const job = (id: string, created_at: string): JobRecord => ({
    id,
    state: 'queued',
    created_at,
    updated_at: created_at,
    transitions: [{ state: 'queued', at: created_at }],
    spec: { epochs: 1 },
    progress: null,
    metrics: [],
    checkpoint: null,
    model: null,
    error: null,
  });

  it('persists the newest snapshot when saves overlap, and reloads in creation order', async () => {
    const store = new JobStore(root);
    await store.load();
    const a = job(newJobId(), '2024-01-01T00:00:00.000Z');
    const b = job(newJobId(), '2024-01-01T00:00:01.000Z');
    await store.create(b);
    await store.create(a);
    const saves = [];
    for (let epoch = 1; epoch <= 20; epoch++) {
      a.metrics.push({ epoch, train_loss: 1 / epoch });
      saves.push(store.save(a.id));
    }
    await Promise.all(saves);
    const onDisk = JSON.parse(await readFile(join(root, a.id, 'job.json'), 'utf8')) as JobRecord;
    expect(onDisk.metrics).toHaveLength(20);
    expect(await readdir(join(root, a.id))).toEqual(['job.json']);

    const restarted = new JobStore(root);
    await restarted.load();
    expect(restarted.all().map((j) => j.id)).toEqual([a.id, b.id]);
    expect(restarted.get(a.id)).toEqual(a);
  });
});

describe('metrics picture', () => {
  it('draws a standalone SVG with both curves and escaped text', () => {
    const svg = renderMetricsSvg(
      [
        { epoch: 1, train_loss: 0.9, test_loss: 0.5, test_accuracy: 0.85 },
        { epoch: 2, train_loss: 0.3, test_loss: 0.25, test_accuracy: 0.93 },
      ],
      'job <x> & "y"',
      3,
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('job &#60;x&#62; &#38; &#34;y&#34;');
    expect(svg).not.toContain('<script');
    expect(svg.match(/<path /g)).toHaveLength(3); // train loss, test loss, test accuracy
    expect(svg).not.toMatch(/NaN|Infinity/);
    for (const tag of svg.match(/<[a-z]+ [^>]*>/g)!) {
      const names = [...tag.matchAll(/ ([a-z-]+)="/g)].map((m) => m[1]);
      expect(new Set(names).size, tag).toBe(names.length); // XML forbids repeated attributes
    }
    expect(renderMetricsSvg([], 'empty')).toContain('no epoch finished yet');
  });

  it('draws the same chart as a valid PNG', async () => {
    const png = await renderMetricsPng([{ epoch: 1, train_loss: 0.5, test_accuracy: 0.9 }], 'job', 2);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const chunks: Record<string, Buffer> = {};
    for (let at = 8; at < png.length; ) {
      const length = png.readUInt32BE(at);
      const type = png.toString('latin1', at + 4, at + 8);
      chunks[type] = png.subarray(at + 8, at + 8 + length);
      at += 12 + length;
    }
    expect(Object.keys(chunks)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const [width, height] = [chunks.IHDR!.readUInt32BE(0), chunks.IHDR!.readUInt32BE(4)];
    expect([width, height, chunks.IHDR![8], chunks.IHDR![9]]).toEqual([1600, 720, 8, 2]);
    const rows = inflateSync(chunks.IDAT!);
    expect(rows.length).toBe((width * 3 + 1) * height);
    // Not blank: the curves and text put non-white pixels on the white background.
    expect(rows.some((b, i) => i % (width * 3 + 1) !== 0 && b !== 255)).toBe(true);
  });
});
