/**
 * Training jobs over HTTP: start, list, inspect, watch (Server-Sent Events), cancel, and the
 * learning curves as SVG. Training itself runs in the job manager's worker threads; these handlers
 * only validate, hand over and read records.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { JobConflictError, type JobEvent } from '../jobs/manager.js';
import { prepareTrainingJob } from '../jobs/spec.js';
import { isTerminal } from '../jobs/state.js';
import type { JobRecord } from '../jobs/store.js';
import { renderMetricsPng } from '../render/metrics-png.js';
import { renderMetricsSvg } from '../render/metrics-svg.js';
import { errorSchema } from '../schemas/responses.js';
import {
  jobIdParamsSchema,
  jobListQuerySchema,
  trainingJobListSchema,
  trainingJobRequestSchema,
  trainingJobSchema,
} from '../schemas/training.js';

const TAGS = ['training'];
/** A comment line now and then keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

const errors = {
  '4xx': errorSchema,
  404: errorSchema.meta({ description: 'No such job.' }),
};

function sseMessage(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export default async function trainingJobRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const streams = new Set<ServerResponse>();

  const jobOr404 = (id: string): JobRecord => {
    const job = app.trainingJobs.get(id);
    if (!job) throw new ApiError('NOT_FOUND', `no training job with id '${id}'`);
    return job;
  };

  routes.post('/v1/training-jobs', {
    schema: {
      summary: 'Start a training job',
      description:
        'Validates the model against the data (shapes must chain, the output must be class logits, the data must fit ' +
        'the input shape and classes), then queues the job and answers 202 with it and its Location. Jobs run in their ' +
        'own worker threads, TRAINING_CONCURRENCY at a time; the rest wait `queued`.',
      operationId: 'createTrainingJob',
      tags: TAGS,
      body: trainingJobRequestSchema,
      response: {
        202: trainingJobSchema,
        400: errorSchema.meta({ description: 'Invalid model, dataset, optimizer or tensors.' }),
        404: errorSchema.meta({ description: 'The registered model or uploaded dataset named does not exist.' }),
        413: errorSchema.meta({ description: 'Body or tensor over its size limit.' }),
        422: errorSchema.meta({ description: 'A batch would exceed the activation budget.' }),
        '4xx': errorSchema,
      },
    },
    handler: async (request, reply) => {
      const { config } = app;
      const prepared = await prepareTrainingJob(request.body, {
        registry: app.modelRegistry,
        datasets: app.datasetStore,
        limits: { maxTensorElements: config.maxTensorElements, maxBatchElements: config.trainingMaxBatchElements },
      });
      const job = await app.trainingJobs.submit(prepared.spec, prepared.prepare);
      return reply.code(202).header('location', `/v1/training-jobs/${job.id}`).send(job);
    },
  });

  routes.get('/v1/training-jobs', {
    schema: {
      summary: 'List training jobs',
      description: 'Newest first, optionally only those in one state; `limit` and `offset` page through them.',
      operationId: 'listTrainingJobs',
      tags: TAGS,
      querystring: jobListQuerySchema,
      response: { 200: trainingJobListSchema, '4xx': errorSchema },
    },
    handler: async (request) => {
      const { state, limit, offset } = request.query;
      const { items, total } = app.trainingJobs.list({ state, limit, offset });
      return { items, total, limit, offset };
    },
  });

  routes.get('/v1/training-jobs/:id', {
    schema: {
      summary: 'Get a training job',
      description: 'State and timestamped transitions, progress (epoch, step, images/s, ETA), metrics per epoch, the registered model.',
      operationId: 'getTrainingJob',
      tags: TAGS,
      params: jobIdParamsSchema,
      response: { 200: trainingJobSchema, ...errors },
    },
    handler: async (request) => jobOr404(request.params.id),
  });

  routes.post('/v1/training-jobs/:id/cancel', {
    schema: {
      summary: 'Cancel a training job',
      description:
        'Cooperative: a queued job ends `cancelled` at once; a running one goes `cancelling`, stops at its next batch ' +
        'boundary with a checkpoint and ends `cancelled`. Cancelling again changes nothing. A finished job answers 409.',
      operationId: 'cancelTrainingJob',
      tags: TAGS,
      params: jobIdParamsSchema,
      response: { 202: trainingJobSchema, 409: errorSchema.meta({ description: 'The job already succeeded or failed.' }), ...errors },
    },
    handler: async (request, reply) => {
      jobOr404(request.params.id);
      try {
        return reply.code(202).send(await app.trainingJobs.cancel(request.params.id));
      } catch (err) {
        if (err instanceof JobConflictError) throw new ApiError('CONFLICT', err.message);
        throw err;
      }
    },
  });

  routes.get('/v1/training-jobs/:id/events', {
    schema: {
      summary: 'Watch a training job (Server-Sent Events)',
      description:
        'A `text/event-stream`: first a `state` event with the whole job (so a late client starts from the current ' +
        'state), then `progress` events (per batch, throttled), an `epoch` event with the metrics of each finished ' +
        'epoch, and a `state` event on every transition. The stream ends after the final state.',
      operationId: 'trainingJobEvents',
      tags: TAGS,
      params: jobIdParamsSchema,
      response: {
        200: { description: 'The event stream.', content: { 'text/event-stream': { schema: z.string() } } },
        ...errors,
      },
    },
    handler: async (request, reply) => {
      const job = jobOr404(request.params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      streams.add(res);
      let unsubscribe = () => {};
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const end = () => {
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(res);
        if (!res.writableEnded) res.end();
      };
      res.on('close', end);
      res.write(sseMessage('state', job));
      if (isTerminal(job.state)) return end();
      unsubscribe = app.trainingJobs.subscribe(job.id, (event: JobEvent) => {
        res.write(sseMessage(event.event, event.data));
        if (event.event === 'state' && isTerminal(event.data.state)) end();
      });
    },
  });

  routes.get('/v1/training-jobs/:id/metrics.svg', {
    schema: {
      summary: 'Learning curves of a training job',
      description: 'Train and test loss, and accuracy, per epoch, as an SVG picture (open it in a browser; metrics.png is the same as a PNG).',
      operationId: 'trainingJobMetricsSvg',
      tags: TAGS,
      params: jobIdParamsSchema,
      response: {
        200: { description: 'An SVG image.', content: { 'image/svg+xml': { schema: z.string() } } },
        ...errors,
      },
    },
    handler: async (request, reply) => {
      const job = jobOr404(request.params.id);
      const epochs = (job.spec as { epochs?: number }).epochs;
      const svg = renderMetricsSvg(job.metrics, `training job ${job.id} (${job.state})`, epochs);
      return reply.type('image/svg+xml; charset=utf-8').header('cache-control', 'no-cache').send(svg);
    },
  });

  routes.get('/v1/training-jobs/:id/metrics.png', {
    schema: {
      summary: 'Learning curves of a training job (PNG)',
      description: 'The same picture as metrics.svg as a PNG, which Swagger UI shows inline ("Try it out", then "Execute").',
      operationId: 'trainingJobMetricsPng',
      tags: TAGS,
      params: jobIdParamsSchema,
      response: {
        200: { description: 'A PNG image.', content: { 'image/png': { schema: z.string().meta({ format: 'binary' }) } } },
        ...errors,
      },
    },
    handler: async (request, reply) => {
      const job = jobOr404(request.params.id);
      const epochs = (job.spec as { epochs?: number }).epochs;
      const png = await renderMetricsPng(job.metrics, `training job ${job.id} (${job.state})`, epochs);
      return reply.type('image/png').header('cache-control', 'no-cache').send(png as never);
    },
  });

  // Open event streams would hold the server open; end them as soon as closing starts.
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
    streams.clear();
  });
}
