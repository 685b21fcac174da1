import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTemporaryName, writeFileAtomic, writeFileAtomicSync, writeJsonAtomic, writeStreamAtomic } from '../../src/storage/atomic.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convpool-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('atomic writes', () => {
  it('replaces a file whole and leaves no temporary file behind', async () => {
    const path = join(dir, 'nested', 'job.json');
    await writeJsonAtomic(path, { state: 'queued' });
    await writeJsonAtomic(path, { state: 'running' });
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ state: 'running' });
    expect(await readdir(join(dir, 'nested'))).toEqual(['job.json']);
  });

  it('keeps the old file when a stream fails half way', async () => {
    const path = join(dir, 'images.idx');
    await writeFile(path, 'old');
    const failing = new Readable({
      read() {
        this.push(Buffer.from('partial'));
        this.destroy(new Error('size limit exceeded'));
      },
    });
    await expect(writeStreamAtomic(path, failing)).rejects.toThrow('size limit exceeded');
    expect(await readFile(path, 'utf8')).toBe('old');
    expect((await readdir(dir)).filter(isTemporaryName)).toEqual([]);
  });

  it('writes a stream through to the target', async () => {
    const path = join(dir, 'labels.idx');
    await writeStreamAtomic(path, Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
    expect(await readFile(path, 'utf8')).toBe('abcd');
    await writeFileAtomic(path, new Uint8Array([1, 2]));
    expect([...(await readFile(path))]).toEqual([1, 2]);
    writeFileAtomicSync(path, 'sync');
    expect(await readFile(path, 'utf8')).toBe('sync');
    expect(await readdir(dir)).toEqual(['labels.idx']);
  });
});
