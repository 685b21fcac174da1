/**
 * Swagger UI in a real browser (Debian's chromium, driven by playwright-core): open /docs of a
 * listening server, "Try it out" then "Execute" on max_pool2d with the prefilled tutorial example,
 * and read the result from the page.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../../src/kernels/registry.js';
import { startApp } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';

describe.skipIf(!ops.has('max_pool2d'))('Swagger UI', () => {
  let app: FastifyInstance;
  let origin: string;
  let browser: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    app = await startApp();
    origin = await app.listen({ port: 0, host: '127.0.0.1' });
    profile = mkdtempSync(join(tmpdir(), 'convpool-browser-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('runs the tutorial example on max_pool2d with "Try it out" and "Execute"', async () => {
    const page = await browser.newPage();
    // The deep link opens the operation.
    await page.goto(`${origin}/docs#/pooling/max_pool2d`);
    const operation = page.locator('#operations-pooling-max_pool2d');
    await operation.getByRole('button', { name: 'Try it out' }).click();

    // The first example, the tutorial's call, fills the request body.
    const body = JSON.parse(await operation.locator('textarea.body-param__text').inputValue()) as Record<string, unknown>;
    expect(body).toMatchObject({ kernel_size: 2, input: { shape: [1, 2, 4, 4] } });

    await operation.getByRole('button', { name: 'Execute' }).click();
    const response = operation.locator('.live-responses-table .response');
    await expect.poll(() => response.locator('.response-col_status').first().textContent(), { timeout: 30_000 }).toBe('200');
    const text = await response.locator('.response-col_description pre').first().textContent();
    expect(JSON.parse(text!)).toEqual({ output: { shape: [1, 2, 2, 2], dtype: 'float32', data: [1, 1, 3, 3, 5, 5, 7, 7] } });
  }, 90_000); // rendering the whole document takes a while on a busy machine
});
