/**
 * Uploaded datasets: IDX images and labels (raw or gzip) as multipart/form-data, streamed to disk
 * under a size limit and validated as a pair before the dataset exists. Corrupt, mismatched or
 * oversized uploads are refused and leave nothing behind.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { IdxFormatError } from '../datasets/idx.js';
import { DatasetTooLargeError, type DatasetPart } from '../datasets/store.js';
import type { TrainingJobSpec } from '../jobs/spec.js';
import { datasetListSchema, datasetParamsSchema, datasetSchema, datasetUploadSchema } from '../schemas/datasets.js';
import { errorSchema } from '../schemas/responses.js';

const TAGS = ['datasets'];
const PARTS: readonly string[] = ['images', 'labels'];

/** Multipart bodies are read by the route as streams, not validated as a whole. */
const streamedBody = () => (data: unknown) => ({ value: data });

/** Maps what an upload can fail with onto the error table. */
export function uploadError(err: unknown, limit: number): unknown {
  if (err instanceof ApiError) return err;
  if (err instanceof DatasetTooLargeError) return new ApiError('UPLOAD_TOO_LARGE', err.message);
  if (err instanceof IdxFormatError) return new ApiError('INVALID_DATASET', err.message);
  const code = (err as { code?: string }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') return new ApiError('UPLOAD_TOO_LARGE', `a file exceeds the ${limit}-byte upload limit`);
  if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    return new ApiError('BAD_REQUEST', `too many parts in the multipart body (${(err as Error).message}); send only the documented ones`);
  }
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') {
    return new ApiError('MULTIPART_REQUIRED', 'the parts this endpoint documents');
  }
  if (code?.startsWith('FST_') || (err as { statusCode?: number }).statusCode === 400) {
    return new ApiError('BAD_REQUEST', `malformed multipart body: ${(err as Error).message}`);
  }
  return err;
}

export default async function datasetRoutes(app: FastifyInstance) {
  const limit = app.config.uploadLimitBytes;
  await app.register(multipart, {
    // One more byte than the limit, so the store's own check reports it with a clear message.
    limits: { fileSize: limit + 1, files: 2, fields: 4, parts: 6, fieldSize: 4096 },
  });
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const store = app.datasetStore;

  routes.post('/v1/datasets', {
    schema: {
      summary: 'Upload a dataset',
      description:
        'multipart/form-data with the files `images` (IDX, magic 0x00000803) and `labels` (IDX, magic 0x00000801), ' +
        `raw or gzip, at most UPLOAD_LIMIT_BYTES each, and an optional \`name\`. Both are validated together: a corrupt ` +
        'or truncated file, a wrong magic number, or counts that differ are answered 400.',
      operationId: 'uploadDataset',
      tags: TAGS,
      consumes: ['multipart/form-data'],
      body: datasetUploadSchema,
      response: {
        201: datasetSchema,
        400: errorSchema.meta({ description: 'Not valid IDX, or images and labels do not match.' }),
        413: errorSchema.meta({ description: 'A file over UPLOAD_LIMIT_BYTES.' }),
        415: errorSchema.meta({ description: 'Not multipart/form-data.' }),
        '4xx': errorSchema,
      },
    },
    validatorCompiler: streamedBody,
    handler: async (request, reply) => {
      if (!request.isMultipart()) throw new ApiError('MULTIPART_REQUIRED', 'the files images and labels');
      const upload = await store.beginUpload();
      try {
        let name: string | undefined;
        let imagesName: string | undefined;
        for await (const part of request.parts()) {
          if (part.type === 'field') {
            if (part.fieldname !== 'name') throw new ApiError('BAD_REQUEST', `unexpected field '${part.fieldname}'; send images, labels and name`);
            name = String(part.value).slice(0, 128);
            continue;
          }
          if (!PARTS.includes(part.fieldname)) {
            throw new ApiError('BAD_REQUEST', `unexpected file '${part.fieldname}'; send images and labels`);
          }
          if (part.fieldname === 'images') imagesName = part.filename;
          await upload.receive(part.fieldname as DatasetPart, part.file, part.filename || undefined);
        }
        const record = await upload.commit(name ?? imagesName ?? 'dataset');
        return reply.code(201).header('location', `/v1/datasets/${record.id}`).send(record);
      } catch (err) {
        await upload.abort();
        throw uploadError(err, limit);
      }
    },
  });

  routes.get('/v1/datasets', {
    schema: {
      summary: 'List datasets',
      operationId: 'listDatasets',
      tags: TAGS,
      response: { 200: datasetListSchema, '4xx': errorSchema },
    },
    handler: async () => ({ datasets: store.list() }),
  });

  const datasetOr404 = (id: string) => {
    const record = store.get(id);
    if (!record) throw new ApiError('NOT_FOUND', `no dataset with id '${id}'`);
    return record;
  };

  routes.get('/v1/datasets/:id', {
    schema: {
      summary: 'Get a dataset',
      operationId: 'getDataset',
      tags: TAGS,
      params: datasetParamsSchema,
      response: { 200: datasetSchema, 404: errorSchema, '4xx': errorSchema },
    },
    handler: async (request) => datasetOr404(request.params.id),
  });

  routes.delete('/v1/datasets/:id', {
    schema: {
      summary: 'Delete a dataset',
      description: 'Refused (409) while a queued or running training job uses it.',
      operationId: 'deleteDataset',
      tags: TAGS,
      params: datasetParamsSchema,
      response: { 204: z.null().meta({ description: 'Deleted.' }), 404: errorSchema, 409: errorSchema, '4xx': errorSchema },
    },
    handler: async (request, reply) => {
      const { id } = datasetOr404(request.params.id);
      const uses = (spec: unknown) => {
        const d = (spec as TrainingJobSpec).dataset;
        return 'id' in d && (d.id === id || d.test_id === id);
      };
      if (app.trainingJobs.hasUnfinished((job) => uses(job.spec))) {
        throw new ApiError('CONFLICT', `dataset ${id} is used by a training job that has not finished`);
      }
      await store.delete(id);
      return reply.code(204).send(null);
    },
  });
}
