/** Reply schemas: results, errors, the op list and the health checks. */
import { z } from 'zod';
import { errorTable, type ErrorCode } from '../errors.js';
import { tensorResultSchema } from './tensor.js';

export const errorSchema = z
  .object({
    statusCode: z.int().meta({ description: 'The HTTP status.' }),
    code: z.enum(Object.keys(errorTable) as [ErrorCode, ...ErrorCode[]]).meta({ description: 'Stable error code.' }),
    error: z.string().meta({ description: 'The HTTP status text.' }),
    message: z.string().meta({ description: "What went wrong; for INVALID_ARGUMENT, PyTorch's message verbatim." }),
    python_error: z
      .enum(['RuntimeError', 'ValueError', 'TypeError', 'IndexError', 'ZeroDivisionError'])
      .optional()
      .meta({ description: 'The exception class PyTorch raises for the same call.' }),
  })
  .meta({
    id: 'Error',
    description: 'Every error reply has this shape.',
    examples: [
      {
        statusCode: 400,
        code: 'INVALID_ARGUMENT',
        error: 'Bad Request',
        message: 'pad should be at most half of kernel size, but got pad=2 and kernel_size=3',
        python_error: 'RuntimeError',
      },
    ],
  });

export const forwardResultSchema = z
  .object({ output: tensorResultSchema })
  .catchall(tensorResultSchema)
  .meta({
    id: 'ForwardResult',
    description: 'The result `output`, plus `indices` when `return_indices` is true (and any other result the op has).',
  });

export const backwardResultSchema = z
  .object({ grad_input: tensorResultSchema })
  .catchall(tensorResultSchema)
  .meta({
    id: 'BackwardResult',
    description: 'The gradient with respect to `input`, plus those of the other differentiable tensors (`grad_weight`, `grad_bias`).',
  });

export const opInfoSchema = z
  .object({
    name: z.string(),
    summary: z.string(),
    tag: z.string(),
    path: z.string().meta({ description: 'Where to POST the forward.' }),
    backward_path: z.string().nullable().meta({ description: 'Where to POST the backward; null when there is none.' }),
    tensors: z.array(z.object({ name: z.string(), kind: z.enum(['float', 'int64']), optional: z.boolean() })),
    gradients: z.array(z.string()),
    arguments: z.record(z.string(), z.unknown()).meta({ description: 'JSON Schema of the keyword arguments.' }),
  })
  .meta({ id: 'OpInfo' });

export const opListSchema = z.object({ ops: z.array(opInfoSchema) }).meta({ id: 'OpList' });

export const healthSchema = z.object({ status: z.enum(['ok', 'ready']) }).meta({ id: 'Health' });
