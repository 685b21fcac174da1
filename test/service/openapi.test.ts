import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../../src/kernels/registry.js';
import { openapiText } from '../../src/routes/docs.js';
import { loadGolden } from '../helpers/golden.js';
import { startApp, type Json } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const committedPath = `${root}openapi/openapi.json`;

let app: FastifyInstance;
let document: Json;
beforeAll(async () => {
  app = await startApp();
  document = JSON.parse(openapiText(app)) as Json;
});
afterAll(async () => {
  await app.close();
});

describe('openapi/openapi.json', () => {
  it('is up to date with the app (run `npm run openapi` after changing routes or schemas)', () => {
    expect(readFileSync(committedPath, 'utf8')).toBe(openapiText(app));
  });

  it('is a valid OpenAPI 3.1 document (swagger-parser)', async () => {
    const api = (await SwaggerParser.validate(structuredClone(document) as never)) as Json;
    expect(api.openapi).toBe('3.1.0');
  });

  it('passes redocly lint with no problems', async () => {
    const redocly = `${root}node_modules/.bin/redocly`;
    const { stdout, stderr } = await promisify(execFile)(redocly, ['lint', 'openapi/openapi.json'], {
      cwd: root,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', NO_COLOR: '1' },
    });
    const output = stdout + stderr;
    expect(output).toContain('Your API description is valid');
    expect(output).not.toMatch(/You have \d+ warnings?/);
  });

  it('is served at /openapi.json', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(document);
  });
});

describe('the document', () => {
  it('has servers, a license and named components', () => {
    expect(document.servers).toEqual([{ url: '/' }]);
    expect(document.info.license.name).toBe('MIT');
    const names = Object.keys(document.components.schemas);
    expect(names).toEqual(expect.arrayContaining(['Tensor', 'TensorResult', 'Error', 'ForwardResult', 'BackwardResult']));
    for (const name of ops.keys()) {
      const id = name.split('_').map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
      expect(names).toContain(`${id}Request`);
    }
    expect(names.filter((n) => n.endsWith('Input')), 'input/output duplicates are merged').toEqual([]);
  });

  it('gives every operation a summary, an operationId and error responses', () => {
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(document.paths as Record<string, Json>)) {
      for (const [method, operation] of Object.entries(item as Record<string, Json>)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(operation.summary, where).toBeTruthy();
        expect(operation.operationId, where).toBeTruthy();
        expect(operationIds.has(operation.operationId), `${where}: unique operationId`).toBe(false);
        operationIds.add(operation.operationId);
        expect(Object.keys(operation.responses).some((code) => code.startsWith('4')), where).toBe(true);
      }
    }
  });

  it('documents one request schema per op and the error replies', () => {
    for (const op of ops.values()) {
      const operation = document.paths[`/v1/ops/${op.name}`].post;
      expect(operation.requestBody.content['application/json'].schema.$ref).toMatch(/Request$/);
      for (const code of ['400', '413', '422', '503', '504']) {
        expect(operation.responses[code].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
      }
    }
  });

  it.skipIf(!ops.has('max_pool2d'))('carries the tutorial example on max_pool2d, first', () => {
    const examples = document.paths['/v1/ops/max_pool2d'].post.requestBody.content['application/json'].examples;
    const [first] = Object.values(examples) as Json[];
    const seed = loadGolden('seed_example.json').cases[0]!;
    expect(first!.value).toEqual({ input: seed.input, ...seed.params });
  });
});
