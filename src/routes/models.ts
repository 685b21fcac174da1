/**
 * The model registry over HTTP: list models and versions, download weights (safetensors), import
 * a model trained elsewhere (architecture + safetensors), delete a version, and predict. Inference
 * runs on the compute worker pool like every other tensor computation.
 */
import { createReadStream } from 'node:fs';
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { Tensor } from '../kernels/tensor.js';
import { allocate } from '../kernels/storage.js';
import { ConfigError } from '../nn/errors.js';
import { planModel, type ModelPlan } from '../nn/model.js';
import type { ModelVersionRecord } from '../registry/model-registry.js';
import type { PredictTask } from '../registry/predict-task.js';
import {
  architectureSchema,
  modelImportSchema,
  modelListSchema,
  modelParamsSchema,
  modelVersionSchema,
  modelVersionsSchema,
  predictRequestSchema,
  predictResultSchema,
  versionParamsSchema,
} from '../schemas/models.js';
import { errorSchema } from '../schemas/responses.js';
import { modelNameSchema } from '../schemas/training.js';
import { decodeSafetensors, SafetensorsFormatError } from '../storage/safetensors.js';
import { decodeTensor, numel, TensorFormatError, TensorSizeError, type Encoding } from '../tensor/codec.js';
import { uploadError } from './datasets.js';

const TAGS = ['models'];
const streamedBody = () => (data: unknown) => ({ value: data });
/** The architecture field is small JSON; anything larger is a mistake. */
const MAX_ARCHITECTURE_BYTES = 256 * 1024;

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** A JSON-safe copy of a record (readonly arrays become plain ones for the reply schema). */
const view = (record: ModelVersionRecord) => JSON.parse(JSON.stringify(record)) as ModelVersionRecord & { parameters: never[] };

function planArchitecture(text: string): { architecture: { layers: unknown[]; input_shape: number[] }; plan: ModelPlan } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ApiError('INVALID_MODEL', `architecture is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = architectureSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ApiError('INVALID_MODEL', `architecture.${issue.path.join('.')}: ${issue.message}`);
  }
  try {
    const plan = planModel({ layers: parsed.data.layers }, parsed.data.input_shape);
    if (plan.outputShape.length !== 1) {
      throw new ApiError('INVALID_MODEL', `the model must end in class logits [classes] per example; its output per example is ${fmt(plan.outputShape)}`);
    }
    return { architecture: parsed.data, plan };
  } catch (err) {
    if (err instanceof ConfigError) throw new ApiError('INVALID_MODEL', err.message);
    throw err;
  }
}

/**
 * Matches uploaded tensors to the architecture like `load_state_dict(strict=True)`: the same names,
 * the same shapes. BatchNorm's `num_batches_tracked` counter is accepted and ignored.
 */
function matchWeights(bytes: Uint8Array, plan: ModelPlan): [string, Tensor][] {
  let tensors: Map<string, Tensor>;
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (err) {
    if (err instanceof SafetensorsFormatError) throw new ApiError('INVALID_WEIGHTS', `weights: ${err.message}`);
    throw err;
  }
  // state_dict order: each layer's parameters, then its buffers.
  const expected = plan.layers.flatMap((layer) => [...layer.parameters, ...layer.buffers]);
  const known = new Set(expected.map((p) => p.name));
  const missing = expected.filter((p) => !tensors.has(p.name)).map((p) => `"${p.name}"`);
  const unexpected = [...tensors.keys()].filter((n) => !known.has(n) && !n.endsWith('.num_batches_tracked')).map((n) => `"${n}"`);
  if (missing.length > 0 || unexpected.length > 0) {
    const problems = [
      ...(missing.length > 0 ? [`Missing key(s) in state_dict: ${missing.join(', ')}.`] : []),
      ...(unexpected.length > 0 ? [`Unexpected key(s) in state_dict: ${unexpected.join(', ')}.`] : []),
    ];
    throw new ApiError('INVALID_WEIGHTS', `Error(s) in loading state_dict: ${problems.join(' ')}`);
  }
  return expected.map((p): [string, Tensor] => {
    const t = tensors.get(p.name)!;
    if (t.dtype === 'int64') throw new ApiError('INVALID_WEIGHTS', `weights: ${p.name} must be F32, got I64`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new ApiError(
        'INVALID_WEIGHTS',
        `size mismatch for ${p.name}: copying a param with shape ${fmt(t.shape)} from checkpoint, the shape in current model is ${fmt(p.shape)}.`,
      );
    }
    if (t.dtype === 'float32') return [p.name, t];
    const data = allocate('float32', t.data.length);
    data.set(t.data);
    return [p.name, { shape: t.shape, dtype: 'float32', data }];
  });
}

function resultTensor(t: Tensor, encoding: Encoding) {
  if (encoding === 'base64') {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    return { shape: [...t.shape], dtype: t.dtype, data: bytes.toString('base64') };
  }
  const data = Array.from(t.data, (v) => (Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'));
  return { shape: [...t.shape], dtype: t.dtype, data };
}

export default async function modelRoutes(app: FastifyInstance) {
  const limit = app.config.uploadLimitBytes;
  await app.register(multipart, { limits: { fileSize: limit + 1, files: 2, fields: 3, parts: 4, fieldSize: MAX_ARCHITECTURE_BYTES } });
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const registry = app.modelRegistry;

  const versionOr404 = (name: string, version?: number): ModelVersionRecord => {
    const record = registry.get(name, version);
    if (!record) {
      throw new ApiError('NOT_FOUND', registry.summary(name) && version !== undefined ? `model '${name}' has no version ${version}` : `no model named '${name}'`);
    }
    return record;
  };

  routes.get('/v1/models', {
    schema: {
      summary: 'List registered models',
      operationId: 'listModels',
      tags: TAGS,
      response: { 200: modelListSchema, '4xx': errorSchema },
    },
    handler: async () => ({ models: registry.list().map((m) => ({ ...m, versions: [...m.versions] })) }),
  });

  routes.get('/v1/models/:name', {
    schema: {
      summary: 'Versions of a model',
      operationId: 'getModel',
      tags: TAGS,
      params: modelParamsSchema,
      response: { 200: modelVersionsSchema, 404: errorSchema, '4xx': errorSchema },
    },
    handler: async (request) => {
      const latest = versionOr404(request.params.name);
      return { name: latest.name, latest: latest.version, versions: registry.versions(latest.name).map(view) };
    },
  });

  routes.get('/v1/models/:name/versions/:version', {
    schema: {
      summary: 'One model version',
      description: 'Architecture, parameter list (state_dict names and shapes), provenance (training job, dataset, metrics) and the weights digest.',
      operationId: 'getModelVersion',
      tags: TAGS,
      params: versionParamsSchema,
      response: { 200: modelVersionSchema, 404: errorSchema, '4xx': errorSchema },
    },
    handler: async (request) => view(versionOr404(request.params.name, request.params.version)),
  });

  routes.get('/v1/models/:name/versions/:version/weights', {
    schema: {
      summary: 'Download weights (safetensors)',
      description:
        "The version's model.safetensors: float32 tensors named as PyTorch's state_dict, readable with " +
        '`safetensors.torch.load_file` and loadable into the equivalent nn.Module with `load_state_dict`.',
      operationId: 'getModelWeights',
      tags: TAGS,
      params: versionParamsSchema,
      response: {
        200: { description: 'A safetensors file.', content: { 'application/octet-stream': { schema: modelImportSchema.shape.weights } } },
        404: errorSchema,
        '4xx': errorSchema,
      },
    },
    handler: async (request, reply) => {
      const record = versionOr404(request.params.name, request.params.version);
      return reply
        .type('application/octet-stream')
        .header('content-length', record.weights.bytes)
        .header('content-disposition', `attachment; filename="${record.name}-v${record.version}.safetensors"`)
        .header('etag', `"${record.weights.sha256}"`)
        .send(createReadStream(registry.weightsPath(record.name, record.version)) as never);
    },
  });

  routes.post('/v1/models', {
    schema: {
      summary: 'Import a model',
      description:
        'Registers a new version from an architecture and safetensors weights, e.g. a model trained in PyTorch and ' +
        'saved with `safetensors.torch.save_file(model.state_dict(), ...)`. Tensor names and shapes must match the ' +
        'architecture exactly, as `load_state_dict(strict=True)` demands.',
      operationId: 'importModel',
      tags: TAGS,
      consumes: ['multipart/form-data'],
      body: modelImportSchema,
      response: {
        201: modelVersionSchema,
        400: errorSchema.meta({ description: 'Invalid architecture, or weights that are not safetensors or do not fit it.' }),
        413: errorSchema.meta({ description: 'Weights over UPLOAD_LIMIT_BYTES.' }),
        '4xx': errorSchema,
      },
    },
    validatorCompiler: streamedBody,
    handler: async (request, reply) => {
      if (!request.isMultipart()) throw new ApiError('MULTIPART_REQUIRED', 'the fields name and architecture and the file weights');
      const fields: Record<string, string> = {};
      let weights: Buffer | undefined;
      try {
        for await (const part of request.parts()) {
          if (part.type === 'field') {
            if (part.fieldname !== 'name' && part.fieldname !== 'architecture') {
              throw new ApiError('BAD_REQUEST', `unexpected field '${part.fieldname}'; send name, architecture and weights`);
            }
            fields[part.fieldname] = String(part.value);
          } else if (part.fieldname === 'weights') {
            weights = await part.toBuffer();
            if (weights.length > limit) throw new ApiError('UPLOAD_TOO_LARGE', `weights exceed the ${limit}-byte upload limit`);
          } else if (part.fieldname === 'architecture') {
            const buffer = await part.toBuffer();
            if (buffer.length > MAX_ARCHITECTURE_BYTES) throw new ApiError('INVALID_MODEL', 'architecture is too large');
            fields.architecture = buffer.toString('utf8');
          } else {
            throw new ApiError('BAD_REQUEST', `unexpected file '${part.fieldname}'; send name, architecture and weights`);
          }
        }
      } catch (err) {
        throw uploadError(err, limit);
      }
      const name = modelNameSchema.safeParse(fields.name);
      if (!name.success) throw new ApiError('VALIDATION_ERROR', `name: ${fields.name === undefined ? 'required' : name.error.issues[0]!.message}`);
      if (fields.architecture === undefined) throw new ApiError('VALIDATION_ERROR', 'architecture: required');
      if (!weights) throw new ApiError('VALIDATION_ERROR', 'weights: a safetensors file is required');
      const { architecture, plan } = planArchitecture(fields.architecture);
      const parameters = matchWeights(weights, plan);
      const record = await registry.register({ name: name.data, architecture, parameters, provenance: { source: 'import' } });
      return reply.code(201).header('location', `/v1/models/${record.name}/versions/${record.version}`).send(view(record));
    },
  });

  routes.delete('/v1/models/:name/versions/:version', {
    schema: {
      summary: 'Delete a model version',
      operationId: 'deleteModelVersion',
      tags: TAGS,
      params: versionParamsSchema,
      response: { 204: z.null().meta({ description: 'Deleted.' }), 404: errorSchema, '4xx': errorSchema },
    },
    handler: async (request, reply) => {
      const record = versionOr404(request.params.name, request.params.version);
      await registry.delete(record.name, record.version);
      return reply.code(204).send(null);
    },
  });

  const predict = async (record: ModelVersionRecord, body: { input: unknown; encoding?: Encoding | undefined }) => {
    const architecture = record.architecture as { layers: unknown[]; input_shape: number[] };
    const inputShape = architecture.input_shape;
    let input: Tensor;
    try {
      input = decodeTensor(body.input as never, { name: 'input', defaultDtype: 'float32', maxElements: app.config.maxTensorElements });
    } catch (err) {
      if (err instanceof TensorSizeError) throw new ApiError('TENSOR_TOO_LARGE', err.tensorName, err.elements, err.limit);
      if (err instanceof TensorFormatError) throw new ApiError('INVALID_TENSOR', err.message);
      throw err;
    }
    if (input.dtype === 'int64') throw new ApiError('INVALID_TENSOR', 'input must be float32 or float64');
    const unbatched = input.shape.length === inputShape.length && input.shape.every((d, i) => d === inputShape[i]);
    if (unbatched) input = { ...input, shape: [1, ...input.shape] };
    if (input.shape.length !== inputShape.length + 1 || inputShape.some((d, i) => input.shape[i + 1] !== d)) {
      throw new ApiError('INVALID_TENSOR', `input must be [N, ${inputShape.join(', ')}] or [${inputShape.join(', ')}] for model ${record.name} v${record.version}, got ${fmt(input.shape)}`);
    }
    // Every layer's activations for the whole batch, bounded like an op's output.
    const plan = planModel({ layers: architecture.layers }, inputShape);
    const activations = input.shape[0]! * plan.layers.reduce((sum, l) => sum + numel(l.outputShape), 0);
    if (activations > app.config.trainingMaxBatchElements) {
      throw new ApiError('TRAINING_TOO_LARGE', `a batch of ${input.shape[0]} holds about ${activations} activation values, more than TRAINING_MAX_BATCH_ELEMENTS=${app.config.trainingMaxBatchElements}; send a smaller batch`);
    }
    const task: PredictTask = {
      kind: 'predict',
      op: 'predict',
      phase: 'forward',
      params: {},
      tensors: { input },
      model: {
        key: `${record.name}@${record.version}:${record.weights.sha256}`,
        weightsPath: registry.weightsPath(record.name, record.version),
        layers: architecture.layers,
        inputShape,
      },
    };
    const out = await app.computePool.run(task);
    const encoding = body.encoding ?? 'json';
    return {
      model: { name: record.name, version: record.version },
      logits: resultTensor(out.logits!, encoding),
      probabilities: resultTensor(out.probabilities!, encoding),
      predictions: Array.from(out.predictions!.data),
    };
  };

  const predictSchema = <P>(operationId: string, summary: string, params: P) => ({
    summary,
    description:
      'Runs the model in evaluation mode on a batch `[N, ...input_shape]` (or one example) in the compute worker pool, ' +
      'and answers the logits, softmax probabilities and the predicted class per example.',
    operationId,
    tags: TAGS,
    params,
    body: predictRequestSchema,
    response: {
      200: predictResultSchema,
      400: errorSchema.meta({ description: 'A malformed tensor, or one whose shape does not fit the model.' }),
      404: errorSchema,
      413: errorSchema,
      422: errorSchema,
      '4xx': errorSchema,
      503: errorSchema,
      504: errorSchema,
    },
  });

  routes.post('/v1/models/:name/versions/:version/predict', {
    schema: predictSchema('predictWithModelVersion', 'Predict with a model version', versionParamsSchema),
    handler: async (request) => predict(versionOr404(request.params.name, request.params.version), request.body),
  });

  routes.post('/v1/models/:name/predict', {
    schema: predictSchema('predictWithModel', 'Predict with the latest version of a model', modelParamsSchema),
    handler: async (request) => predict(versionOr404(request.params.name), request.body),
  });
}
