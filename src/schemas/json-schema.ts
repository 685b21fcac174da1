/** How zod schemas become JSON Schema, for the OpenAPI document and the op list alike. */
import type { JSONSchema } from 'zod/v4/core';

/**
 * zod writes `z.int()` as an integer bounded by ±(2^53 - 1); the bounds only restate "a JSON integer
 * JavaScript holds exactly" and clutter every argument, so they are left out.
 */
export function jsonSchemaOverride(ctx: { jsonSchema: JSONSchema.BaseSchema }): void {
  const schema = ctx.jsonSchema;
  if (schema.type !== 'integer') return;
  if (schema.maximum === Number.MAX_SAFE_INTEGER) delete schema.maximum;
  if (schema.minimum === Number.MIN_SAFE_INTEGER) delete schema.minimum;
}
