/** The tensor forms of the API, as zod schemas with ids so the OpenAPI document names them. */
import { z } from 'zod';
import { DTYPES, MAX_RANK } from '../tensor/codec.js';

const dataDescription =
  'The elements: a flat row-major array (then `shape` is required unless the tensor is 1-D), ' +
  'nested arrays one level per dimension (`shape` optional), or a base64 string of the ' +
  'little-endian bytes (4 per float32 element, 8 per float64 or int64 element). Float elements ' +
  'are JSON numbers or the strings "NaN", "Infinity", "-Infinity"; int64 elements are integers.';

const element = {
  anyOf: [{ type: 'number' }, { type: 'string', enum: ['NaN', 'Infinity', '-Infinity'] }, { type: 'array' }],
};

/**
 * `data` is checked element by element by the tensor codec, in one pass that also fills the typed
 * array, so the schema only checks its outer type; the JSON Schema says the rest.
 */
const tensorData = z
  .custom<unknown[] | string>((v) => Array.isArray(v) || typeof v === 'string', {
    error: 'expected an array (flat or nested) or a base64 string',
  })
  .meta({
    description: dataDescription,
    anyOf: [
      { type: 'array', items: element },
      { type: 'string', contentEncoding: 'base64' },
    ],
  });

export const shapeSchema = z
  .array(z.int().min(0, { error: 'a dimension must be a non-negative integer' }))
  .max(MAX_RANK)
  .meta({ description: 'Sizes of the dimensions, outermost first; `[]` is a scalar.' });

export const dtypeSchema = z.enum(DTYPES);

export const tensorSchema = z
  .strictObject({
    shape: shapeSchema.optional(),
    dtype: dtypeSchema
      .optional()
      .meta({ description: 'float32 unless given; int64 for indices and class targets, which default to it.' }),
    data: tensorData,
  })
  .meta({
    id: 'Tensor',
    description: 'A tensor: `{shape, data}` exactly as in the golden files, or nested `data`, or base64 `data` with `dtype`.',
    examples: [
      { shape: [1, 1, 2, 2], data: [1, 2, 3, 'NaN'] },
      { data: [[[[1, 2], [3, 4]]]] },
      { shape: [2], dtype: 'float32', data: 'AACAPwAAAEA=' },
    ],
  });

export type TensorJson = z.infer<typeof tensorSchema>;

export const tensorResultSchema = z
  .object({
    shape: z.array(z.int()),
    dtype: dtypeSchema,
    data: z.union([z.array(z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity'])])), z.string()]),
  })
  .meta({
    id: 'TensorResult',
    description:
      'A result tensor: flat row-major `data` with non-finite values as strings, or a base64 string of ' +
      'the little-endian bytes when the request asked for `"encoding": "base64"`.',
  });

export const encodingSchema = z
  .enum(['json', 'base64'])
  .optional()
  .meta({ description: 'How the reply writes tensor data: JSON arrays (default) or base64 bytes.', default: 'json' });
