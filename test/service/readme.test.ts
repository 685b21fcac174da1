/** The README says what the code does: its configuration table, its error codes and its curl examples. */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envSchema } from '../../src/config.js';
import { errorTable } from '../../src/errors.js';
import { ops } from '../../src/kernels/registry.js';
import { startApp } from './helpers.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Each `curl -s $API/<path> ... -d <body>` block with the JSON block after it. */
function curlExamples() {
  const image = /^IMG='(.*)'$/m.exec(readme)![1]!;
  const blocks = [...readme.matchAll(/```sh\n(curl -s \$API[\s\S]*?)```\n```json\n(.*)\n```/g)];
  return blocks.map(([, command, reply]) => {
    const shell = command!.replace(/\\\n\s*/g, '');
    const path = /\$API(\/\S+)/.exec(shell)![1]!;
    const quoted = /-d (?:"((?:[^"\\]|\\.)*)"|'([^']*)')/.exec(shell)!;
    const body = quoted[1] !== undefined ? quoted[1].replace(/\\"/g, '"').replace(/\$IMG/g, image) : quoted[2]!;
    return { path: `/v1/ops${path}`, body, reply: reply! };
  });
}

describe('README', () => {
  it('lists every environment variable in the configuration table', () => {
    for (const name of Object.keys(envSchema.shape)) expect(readme, name).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });

  it('lists every error code', () => {
    for (const code of Object.keys(errorTable)) expect(readme, code).toContain(`\`${code}\``);
  });

  it('has a Performance section', () => {
    expect(readme).toMatch(/^## Performance$/m);
  });

  describe('curl examples', () => {
    let app: FastifyInstance;
    beforeAll(async () => {
      app = await startApp();
    });
    afterAll(async () => {
      await app.close();
    });

    const examples = curlExamples();
    it('covers the tutorial', () => {
      expect(examples.length).toBeGreaterThanOrEqual(6);
    });

    it.each(examples.filter((e) => ops.has(e.path.split('/')[3]!)).map((e) => [e.path, e] as const))('%s answers as shown', async (_path, e) => {
      const res = await app.inject({ method: 'POST', url: e.path, headers: { 'content-type': 'application/json' }, payload: e.body });
      expect(res.json()).toEqual(JSON.parse(e.reply));
    });
  });
});
