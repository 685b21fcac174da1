/**
 * The application as a Fastify plugin: services, routes, validation and the error handler.
 * Tests build exactly this (`buildApp`) and use `inject`; server.ts adds listening and shutdown.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import { ApiError } from './errors.js';
import docsRoutes, { swaggerOptions } from './routes/docs.js';
import healthRoutes from './routes/health.js';
import opsRoutes from './routes/ops.js';
import datasetRoutes from './routes/datasets.js';
import modelRoutes from './routes/models.js';
import trainingJobRoutes from './routes/training-jobs.js';
import datasetStore from './datasets/plugin.js';
import trainingJobs from './jobs/plugin.js';
import modelRegistry from './registry/plugin.js';
import computePool from './services/compute-pool.js';
import metrics from './services/metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
  }
}

const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** Options of the Fastify instance itself (they cannot be set from inside a plugin). */
export function serverOptions(config: Config): FastifyServerOptions {
  return {
    logger: { level: config.logLevel },
    bodyLimit: config.bodyLimitBytes,
    // Take the caller's request id when it is a plain token, so logs can be followed across services.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  };
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
}

/** Keeps a message readable when it quotes the request (a body with a million unknown keys). */
function clip(text: string, max = 300): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** `/input/shape/0` -> `input.shape[0]` */
function fieldPath(context: string, instancePath = ''): string {
  const parts = instancePath.split('/').filter(Boolean);
  return parts.reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : `${path}.${part}`), context);
}

/** Maps anything thrown while handling a request to one entry of the error table. */
export function toApiError(error: FastifyError | Error, config: Config): ApiError {
  if (error instanceof ApiError) return error;
  const e = error as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(e.validation)) {
    const issues = e.validation.slice(0, 5).map((v) => `${fieldPath(e.validationContext ?? 'body', v.instancePath)}: ${clip(v.message ?? '')}`);
    if (e.validation.length > 5) issues.push(`and ${e.validation.length - 5} more`);
    return new ApiError('VALIDATION_ERROR', issues.join('; '));
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('BODY_TOO_LARGE', config.bodyLimitBytes);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('UNSUPPORTED_MEDIA_TYPE', JSON.stringify(e.message.replace(/^Unsupported Media Type:?\s*/, '')));
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('MALFORMED_JSON', ': the body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('MALFORMED_JSON', '');
  }
  if (e instanceof SyntaxError && e.statusCode === 400) return new ApiError('MALFORMED_JSON', `: ${e.message}`);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new ApiError('BAD_REQUEST', e.message);
  return new ApiError('INTERNAL_ERROR');
}

async function app(app: FastifyInstance, opts: { config: Config }) {
  const { config } = opts;
  app.decorate('config', config);
  // JSON only: anything else is a 415, not a string for the schemas to puzzle over.
  app.removeContentTypeParser(['text/plain']);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error, config);
    if (apiError.statusCode >= 500) request.log.error({ err: error }, apiError.message);
    else request.log.info({ code: apiError.code }, apiError.message);
    return reply.code(apiError.statusCode).headers(apiError.headers).send(apiError.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(404).send(error.body());
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // While draining, a kept-alive connection would hold the shutdown open: end it with this reply.
    if (app.computePool.draining) reply.header('connection', 'close');
  });

  await app.register(swagger, swaggerOptions);
  await app.register(metrics);
  await app.register(computePool, { config });
  await app.register(opsRoutes, { config });
  await app.register(modelRegistry, { config });
  await app.register(datasetStore, { config });
  await app.register(trainingJobs, { config });
  await app.register(trainingJobRoutes);
  await app.register(modelRoutes);
  await app.register(datasetRoutes);
  await app.register(healthRoutes);
  await app.register(docsRoutes);
}

const appPlugin = fp(app, { name: 'convpool', fastify: '5.x' });
export default appPlugin;

/** A ready-to-use instance: Fastify with the server options, and the app registered on it. */
export async function buildApp(config: Config, overrides: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const instance = Fastify({ ...serverOptions(config), ...overrides });
  await instance.register(appPlugin, { config });
  return instance;
}
