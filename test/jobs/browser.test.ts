/**
 * The learning curves of a job in a real browser (Debian's chromium, driven by playwright-core):
 * the SVG opened directly, and the PNG through Swagger UI's "Try it out" / "Execute", which shows
 * it as a picture (Swagger UI shows an SVG reply as its source text).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appWithData, submitJob, tempDataDir, waitForJob } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';

describe('learning curves in a browser', () => {
  let app: FastifyInstance;
  let origin: string;
  let browser: BrowserContext;
  let profile: string;
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let jobId: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    data = await tempDataDir();
    app = await appWithData(data.dir);
    origin = await app.listen({ port: 0, host: '127.0.0.1' });
    const job = await submitJob(app, {
      model: { input_shape: [4], layers: [{ op: 'linear', name: 'fc', in_features: 4, out_features: 2 }] },
      dataset: {
        inputs: { shape: [4, 4], data: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] },
        targets: [0, 1, 0, 1],
        validation: { inputs: { shape: [2, 4], data: [1, 0, 0, 0, 0, 1, 0, 0] }, targets: [0, 1] },
      },
      optimizer: { name: 'sgd', lr: 0.5 },
      epochs: 3,
      batch_size: 2,
    });
    jobId = (await waitForJob(app, job.id)).id;
    profile = mkdtempSync(join(tmpdir(), 'convpool-browser-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await data?.remove();
  });

  it('renders the curves when opened directly', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/v1/training-jobs/${jobId}/metrics.svg`);
    // Three epochs: the train and test loss, and the train and test accuracy curves.
    await expect.poll(() => page.locator('svg path').count()).toBe(4);
    const box = await page.locator('svg').first().boundingBox();
    expect(box?.width).toBeGreaterThan(100);
  });

  it('shows the picture in Swagger UI', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/docs#/training/trainingJobMetricsPng`);
    const operation = page.locator('#operations-training-trainingJobMetricsPng');
    await operation.getByRole('button', { name: 'Try it out' }).click();
    await operation.locator('input[placeholder="id"]').fill(jobId);
    await operation.getByRole('button', { name: 'Execute' }).click();
    const response = operation.locator('.live-responses-table .response');
    await expect.poll(() => response.locator('.response-col_status').first().textContent(), { timeout: 30_000 }).toBe('200');
    const image = response.locator('.response-col_description img');
    await expect.poll(() => image.count(), { timeout: 30_000 }).toBe(1);
    // The image decoded: the chart drawn at twice its 800x360 layout.
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]), { timeout: 30_000 }).toEqual([1600, 720]);
  }, 90_000);
});
