/** The model registry: versions, their provenance, imports and predictions. */
import { z } from 'zod';
import { encodingSchema, tensorResultSchema, tensorSchema } from './tensor.js';
import { layerSchema, modelNameSchema } from './training.js';

export const architectureSchema = z
  .strictObject({
    layers: z.array(layerSchema).min(1).max(64),
    input_shape: z.array(z.int().min(1).max(4096)).min(1).max(4),
  })
  .meta({ id: 'Architecture', description: 'The layers and the shape of one example, as in a training request.' });

export const modelVersionSchema = z
  .object({
    name: z.string(),
    version: z.int(),
    created_at: z.string(),
    architecture: z.unknown().meta({ description: '`{layers, input_shape}`.' }),
    parameters: z
      .array(z.object({ name: z.string(), shape: z.array(z.int()), dtype: z.literal('float32') }))
      .meta({ description: "Tensors of model.safetensors, in PyTorch's state_dict order and names." }),
    num_parameters: z.int(),
    provenance: z
      .looseObject({ source: z.enum(['training', 'import']), job_id: z.string().optional() })
      .meta({ description: 'Where the weights came from: the training job, its dataset, metrics and settings; or an import.' }),
    weights: z.object({ file: z.string(), bytes: z.int(), sha256: z.string() }),
  })
  .meta({ id: 'ModelVersion' });

export const modelSummarySchema = z
  .object({ name: z.string(), versions: z.array(z.int()), latest: z.int(), updated_at: z.string() })
  .meta({ id: 'ModelSummary' });

export const modelListSchema = z.object({ models: z.array(modelSummarySchema) }).meta({ id: 'ModelList' });

export const modelVersionsSchema = z
  .object({ name: z.string(), latest: z.int(), versions: z.array(modelVersionSchema) })
  .meta({ id: 'ModelVersions' });

export const modelParamsSchema = z.strictObject({ name: z.string().max(64) });
export const versionParamsSchema = z.strictObject({
  name: z.string().max(64),
  version: z.coerce.number().int().min(1).max(2 ** 31 - 1),
});

export const modelImportSchema = z
  .object({
    name: modelNameSchema,
    architecture: z.string().meta({ description: 'JSON text of `{layers, input_shape}` (a form field, or a file).' }),
    weights: z
      .string()
      .meta({ format: 'binary', description: "A safetensors file with float32 tensors named as the model's state_dict." }),
  })
  .meta({
    id: 'ModelImport',
    description: 'multipart/form-data with the fields `name`, `architecture` and `weights`.',
  });

export const predictRequestSchema = z
  .strictObject({
    input: tensorSchema.meta({ description: 'A batch [N, ...input_shape], or one example [...input_shape].' }),
    encoding: encodingSchema,
  })
  .meta({
    id: 'PredictRequest',
    examples: [{ input: { shape: [1, 1, 28, 28], data: 'AAAA...base64 of 784 float32...', dtype: 'float32' } }],
  });

export const predictResultSchema = z
  .object({
    model: z.object({ name: z.string(), version: z.int() }),
    logits: tensorResultSchema,
    probabilities: tensorResultSchema.meta({ description: 'softmax(logits, dim=1).' }),
    predictions: z.array(z.int()).meta({ description: 'The class with the largest logit, per example.' }),
  })
  .meta({ id: 'PredictResult' });
