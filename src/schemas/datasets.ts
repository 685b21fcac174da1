/** Uploaded datasets (IDX images and labels). */
import { z } from 'zod';

const fileSchema = z.object({
  file: z.string(),
  bytes: z.int(),
  gzip: z.boolean(),
  original_name: z.string().optional(),
});

export const datasetSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    created_at: z.string(),
    count: z.int().meta({ description: 'Examples (images, each with its label).' }),
    example_shape: z.tuple([z.literal(1), z.int(), z.int()]).meta({ description: '[1, rows, cols]: the input_shape a model needs.' }),
    num_classes: z.int().meta({ description: 'Largest label + 1.' }),
    label_counts: z.array(z.int()).meta({ description: 'Examples per label.' }),
    files: z.object({ images: fileSchema, labels: fileSchema }),
  })
  .meta({ id: 'Dataset' });

export const datasetListSchema = z.object({ datasets: z.array(datasetSchema) }).meta({ id: 'DatasetList' });

export const datasetParamsSchema = z.strictObject({ id: z.string().max(64) });

export const datasetUploadSchema = z
  .object({
    name: z.string().max(128).optional().meta({ description: 'A label for people (default: the images file name).' }),
    images: z.string().meta({ format: 'binary', description: 'IDX images (magic 0x00000803), raw or gzip.' }),
    labels: z.string().meta({ format: 'binary', description: 'IDX labels (magic 0x00000801), raw or gzip.' }),
  })
  .meta({ id: 'DatasetUpload', description: 'multipart/form-data with the files `images` and `labels` and an optional `name`.' });
