/** Liveness, readiness and the Prometheus scrape endpoint. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { errorSchema, healthSchema } from '../schemas/responses.js';

export default async function healthRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get('/health/live', {
    schema: {
      summary: 'Liveness',
      description: 'Answers as long as the process serves HTTP.',
      operationId: 'live',
      tags: ['service'],
      response: { 200: healthSchema.meta({ description: 'The process is alive.' }), '4xx': errorSchema },
    },
    handler: async () => ({ status: 'ok' as const }),
  });

  routes.get('/health/ready', {
    schema: {
      summary: 'Readiness',
      description: 'Ready once the compute workers answer; not ready while starting or draining for shutdown.',
      operationId: 'ready',
      tags: ['service'],
      response: { 200: healthSchema.meta({ description: 'Ready for traffic.' }), '4xx': errorSchema, 503: errorSchema.meta({ description: 'Starting or draining.' }) },
    },
    handler: async () => {
      const pool = app.computePool;
      if (pool.draining) throw new ApiError('NOT_READY', 'draining: the service is shutting down');
      if (!pool.isReady) throw new ApiError('NOT_READY', 'starting: the compute workers are not up yet');
      return { status: 'ready' as const };
    },
  });

  routes.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      description: 'Request counts and latencies by route and status, task durations by op, queue depth and worker threads.',
      operationId: 'metrics',
      tags: ['service'],
      response: {
        200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: z.string() } } },
        '4xx': errorSchema,
      },
    },
    handler: async (_request, reply) => {
      const text = await app.metrics.registry.metrics();
      reply.type(app.metrics.registry.contentType).send(text);
    },
  });
}
