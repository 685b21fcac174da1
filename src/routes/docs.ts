/**
 * The OpenAPI document (generated from the zod schemas) and Swagger UI.
 *
 * fastify-type-provider-zod emits every registered schema twice, an input and an output version
 * (`TensorInput`, `Tensor`); the document keeps only the versions the operations use, under the
 * plain name where that is free, so the components read `Tensor`, `MaxPool2dRequest`, `Error`.
 */
import { readFileSync } from 'node:fs';
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { jsonSchemaOverride } from '../schemas/json-schema.js';
import { errorSchema } from '../schemas/responses.js';
import { requestExamples } from './ops.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

type Json = Record<string, unknown>;
const COMPONENT = '#/components/schemas/';

function collectRefs(node: unknown, into: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) collectRefs(item, into);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith(COMPONENT)) into.add(value.slice(COMPONENT.length));
      else collectRefs(value, into);
    }
  }
}

function renameRefs(node: unknown, names: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(node)) return node.map((item) => renameRefs(item, names));
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => {
      if (key === '$ref' && typeof value === 'string' && value.startsWith(COMPONENT)) {
        const name = value.slice(COMPONENT.length);
        return [key, COMPONENT + (names.get(name) ?? name)];
      }
      return [key, renameRefs(value, names)];
    }),
  );
}

/** Keeps the components the paths reach, and drops the `Input` suffix where the plain name is free. */
export function tidyComponents(document: Json): Json {
  const components = (document.components ?? {}) as Json;
  const schemas = (components.schemas ?? {}) as Record<string, unknown>;
  const used = new Set<string>();
  collectRefs(document.paths, used);
  for (const pending = [...used]; pending.length > 0; ) {
    const found = new Set<string>();
    collectRefs(schemas[pending.pop()!], found);
    for (const name of found) {
      if (!used.has(name)) {
        used.add(name);
        pending.push(name);
      }
    }
  }
  const names = new Map<string, string>();
  for (const name of used) {
    const plain = name.endsWith('Input') ? name.slice(0, -'Input'.length) : name;
    if (plain !== name && !used.has(plain)) names.set(name, plain);
  }
  const kept = Object.fromEntries(
    [...used].sort().map((name) => [names.get(name) ?? name, renameRefs(schemas[name], names)]),
  );
  return {
    ...document,
    paths: renameRefs(document.paths, names),
    components: { ...components, schemas: Object.fromEntries(Object.entries(kept).sort(([a], [b]) => a.localeCompare(b))) },
  };
}

/**
 * Puts each op's examples on its request body as named examples (the first one fills Swagger UI).
 * They cannot travel with the route schema: a `$ref` body loses every sibling keyword on the way.
 */
function addRequestExamples(document: Json): Json {
  const paths = (document.paths ?? {}) as Record<string, Json>;
  for (const [url, item] of Object.entries(paths)) {
    const media = ((item.post as Json | undefined)?.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
    const examples = requestExamples(url);
    if (media?.['application/json'] && examples) media['application/json'].examples = examples;
  }
  return document;
}

const transformObject = createJsonSchemaTransformObject({ zodToJsonConfig: { override: jsonSchemaOverride } });

export const swaggerOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'convpool',
      version: pkg.version,
      description:
        'PyTorch-exact pooling (max, average, adaptive, LP, max unpool), their gradients, and the layers of small ' +
        'CNNs, over HTTP. Arguments carry torch.nn.functional names and defaults; results match PyTorch 1.13.1, ' +
        'including its error messages. Tensors are `{shape, data}` with flat, nested or base64 data.',
      license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'pooling', description: 'max, average, adaptive and LP pooling, and max unpooling, 1d to 3d.' },
      { name: 'reduction', description: 'torch.mean.' },
      { name: 'layers', description: 'Convolution, linear, activations, losses and normalisation.' },
      { name: 'training', description: 'Training jobs: start, watch (SSE), cancel, learning curves.' },
      { name: 'models', description: 'The model registry: versions, safetensors weights, imports and predictions.' },
      { name: 'datasets', description: 'Uploaded IDX datasets.' },
      { name: 'service', description: 'The op list, health, metrics and this document.' },
    ],
  },
  transform: createJsonSchemaTransform({ zodToJsonConfig: { override: jsonSchemaOverride } }),
  transformObject: (documentObject) =>
    addRequestExamples(tidyComponents(transformObject(documentObject) as Json)) as never,
};

export default async function docsRoutes(app: FastifyInstance) {
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'none', deepLinking: true, defaultModelsExpandDepth: 0 },
  });

  app.withTypeProvider<ZodTypeProvider>().get('/openapi.json', {
    schema: {
      summary: 'The OpenAPI document',
      description: 'This document, OpenAPI 3.1, generated from the request and reply schemas.',
      operationId: 'openapi',
      tags: ['service'],
      response: {
        200: { description: 'The OpenAPI document.', content: { 'application/json': { schema: z.looseObject({}) } } },
        '4xx': errorSchema,
      },
    },
    handler: async (_request, reply) => {
      // Already JSON text: a string body skips the response serializer.
      reply.type('application/json; charset=utf-8').send(JSON.stringify(app.swagger()) as never);
    },
  });
}

/** The document as committed in openapi/openapi.json: pretty-printed, ending with a newline. */
export function openapiText(app: FastifyInstance): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
