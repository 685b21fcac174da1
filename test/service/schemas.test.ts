import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../../src/kernels/registry.js';
import { requestExamples } from '../../src/routes/ops.js';
import { opSchemas } from '../../src/schemas/ops.js';
import { startApp } from './helpers.js';

const registered = [...ops.values()];

describe('request schemas', () => {
  it('every op in the registry has a request schema', () => {
    const missing = registered.filter((op) => !opSchemas.has(op.name)).map((op) => op.name);
    expect(missing, 'add these ops to src/schemas/ops.ts').toEqual([]);
  });

  it.each(registered.filter((op) => opSchemas.has(op.name)).map((op) => [op.name, op] as const))(
    '%s: the schema takes the tensors the op takes, optional where the op allows it',
    (_name, op) => {
      const { definition } = opSchemas.get(op.name)!;
      expect(definition.tensors.map((t) => [t.name, t.kind, t.optional ?? false])).toEqual(
        op.tensorArgs.map((a) => [a.name, a.kind, a.optional ?? false]),
      );
    },
  );

  it('names the request components after the op', () => {
    const ids = [...opSchemas.values()].map((s) => [s.forward.meta()?.id, s.backward.meta()?.id]);
    expect(ids).toContainEqual(['MaxPool2dRequest', 'MaxPool2dBackwardRequest']);
    expect(ids).toContainEqual(['ConvTranspose2dRequest', 'ConvTranspose2dBackwardRequest']);
  });
});

describe('examples', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.close();
  });

  const routes = registered.flatMap((op) => {
    const paths = [`/v1/ops/${op.name}`];
    if (op.backward && op.gradients.length > 0) paths.push(`/v1/ops/${op.name}/backward`);
    return paths;
  });

  it.each(routes)('%s: every documented example succeeds', async (url) => {
    const examples = requestExamples(url);
    if (opSchemas.has(url.split('/')[3]!)) expect(examples, 'each op documents at least one example').toBeDefined();
    for (const [name, example] of Object.entries(examples ?? {})) {
      const res = await app.inject({ method: 'POST', url, payload: example.value });
      expect(res.statusCode, `${name}: ${res.body}`).toBe(200);
    }
  });
});
