/**
 * POST /v1/ops/{fn} and /v1/ops/{fn}/backward for every op in the kernel registry, and GET /v1/ops.
 *
 * Thin on purpose: validate (zod), decode the tensors, let the op plan the call (PyTorch's argument
 * errors come out here, before anything is queued), check the limits, hand the task to the worker
 * pool and write the reply. No tensor math happens on the event loop.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import { KernelArgumentError } from '../kernels/errors.js';
import { ops as registry, type OpPlan, type OpSpec, type Params, type TensorArg } from '../kernels/registry.js';
import type { Tensor } from '../kernels/tensor.js';
import { jsonSchemaOverride } from '../schemas/json-schema.js';
import { fallbackSchemas, opSchemas, type OpExample, type OpSchemas } from '../schemas/ops.js';
import { backwardResultSchema, errorSchema, forwardResultSchema, opListSchema } from '../schemas/responses.js';
import { decodeTensor, encodeTensors, numel, TensorFormatError, TensorSizeError, type EncodedTensor, type Encoding } from '../tensor/codec.js';
import type { Fault } from '../workers/compute.js';

type Phase = 'forward' | 'backward';

const errorResponses = {
  400: errorSchema.meta({ description: "Invalid request, or an argument PyTorch rejects (with PyTorch's message)." }),
  404: errorSchema.meta({ description: 'Unknown op.' }),
  413: errorSchema.meta({ description: 'Body or tensor over its size limit.' }),
  415: errorSchema.meta({ description: 'Not a JSON body.' }),
  422: errorSchema.meta({ description: 'Result or estimated work over its limit.' }),
  500: errorSchema.meta({ description: 'The worker died or an internal error.' }),
  503: errorSchema.meta({ description: 'All workers busy and the queue full (see Retry-After), or shutting down.' }),
  504: errorSchema.meta({ description: 'The computation ran past TASK_TIMEOUT_MS and was stopped.' }),
};

/** Fields a golden case carries besides the call itself: labels and the expected results. */
const GOLDEN_CASE_FIELDS = new Set([
  'id', 'fn', 'note', 'data_kind', 'source',
  'output', 'indices', 'grad_output', 'grad_input', 'grad_weight', 'grad_bias',
  'running_mean_after', 'running_var_after',
]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A golden case (`{id, fn, params, input, output, ...}`) becomes a request: its `params` move to the
 * top level and the fields that describe the expected result are dropped, unless the request itself
 * takes them (max_unpool's `indices`, backward's `grad_output`).
 */
export function fromGoldenCase(body: unknown, requestFields: ReadonlySet<string>): unknown {
  if (!isObject(body) || !isObject(body.params)) return body;
  const { params, ...rest } = body;
  for (const key of Object.keys(rest)) {
    if (GOLDEN_CASE_FIELDS.has(key) && !requestFields.has(key)) delete rest[key];
  }
  for (const key of Object.keys(params)) {
    if (key in rest) throw new ApiError('BAD_REQUEST', `${key} is given both at the top level and in params`);
  }
  return { ...rest, ...params };
}

function torchSize(shape: readonly number[]): string {
  return `torch.Size([${shape.join(', ')}])`;
}

function parseFault(header: unknown): Fault | undefined {
  if (typeof header !== 'string') return undefined;
  if (header === 'crash' || header === 'hang') return { kind: header };
  const delay = /^delay=(\d{1,6})$/.exec(header);
  return delay ? { kind: 'delay', ms: Number(delay[1]) } : undefined;
}

/** Aborts when the client goes away before its reply is written, so the worker stops early. */
function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

class OpHandler {
  readonly tensorArgs: readonly TensorArg[];
  readonly tensorNames: ReadonlySet<string>;

  constructor(
    readonly op: OpSpec,
    readonly phase: Phase,
    private readonly config: Config,
  ) {
    this.tensorArgs = phase === 'backward' ? [...op.tensorArgs, { name: 'grad_output', kind: 'float' }] : op.tensorArgs;
    this.tensorNames = new Set(this.tensorArgs.map((a) => a.name));
  }

  decode(body: Record<string, unknown>): Record<string, Tensor> {
    const tensors: Record<string, Tensor> = {};
    for (const arg of this.tensorArgs) {
      const encoded = body[arg.name] as EncodedTensor | undefined;
      if (encoded === undefined || encoded === null) {
        if (arg.optional) continue;
        throw new ApiError('VALIDATION_ERROR', `body.${arg.name}: required`);
      }
      const defaultDtype = arg.kind === 'int64' ? 'int64' : 'float32';
      try {
        tensors[arg.name] = decodeTensor(encoded, { name: arg.name, defaultDtype, maxElements: this.config.maxTensorElements });
      } catch (error) {
        if (error instanceof TensorSizeError) throw new ApiError('TENSOR_TOO_LARGE', error.tensorName, error.elements, error.limit);
        if (error instanceof TensorFormatError) throw new ApiError('INVALID_TENSOR', error.message);
        throw error;
      }
    }
    this.checkDtypes(tensors);
    return tensors;
  }

  private checkDtypes(tensors: Record<string, Tensor>): void {
    let first: [string, Tensor] | undefined;
    for (const arg of this.tensorArgs) {
      const t = tensors[arg.name];
      if (!t) continue;
      if (arg.kind === 'int64' && t.dtype !== 'int64') {
        throw new ApiError('INVALID_DTYPE', `${arg.name} must be an int64 tensor, got ${t.dtype}`);
      }
      if (arg.kind === 'float') {
        if (t.dtype === 'int64') throw new ApiError('INVALID_DTYPE', `${arg.name} must be a float32 or float64 tensor, got int64`);
        if (!first) first = [arg.name, t];
        else if (first[1].dtype !== t.dtype) {
          throw new ApiError(
            'INVALID_DTYPE',
            `expected all float tensors to have the same dtype, got ${first[0]}: ${first[1].dtype} and ${arg.name}: ${t.dtype}`,
          );
        }
      }
    }
  }

  plan(tensors: Record<string, Tensor>, params: Params): OpPlan {
    const shapes: Record<string, readonly number[]> = {};
    for (const arg of this.op.tensorArgs) if (tensors[arg.name]) shapes[arg.name] = tensors[arg.name]!.shape;
    let plan: OpPlan;
    try {
      plan = this.op.plan(shapes, params);
    } catch (error) {
      if (error instanceof KernelArgumentError) {
        const apiError = new ApiError('INVALID_ARGUMENT', error.message);
        apiError.pythonError = error.pythonType;
        throw apiError;
      }
      throw error;
    }
    if (this.phase === 'backward') {
      const expected = plan.outputs.output ?? [];
      const given = tensors.grad_output!.shape;
      if (given.length !== expected.length || given.some((d, i) => d !== expected[i])) {
        // autograd's own wording for a gradient of the wrong shape
        const apiError = new ApiError(
          'INVALID_ARGUMENT',
          `Mismatch in shape: grad_output[0] has a shape of ${torchSize(given)} and output[0] has a shape of ${torchSize(expected)}.`,
        );
        apiError.pythonError = 'RuntimeError';
        throw apiError;
      }
    }
    return plan;
  }

  checkLimits(plan: OpPlan, tensors: Record<string, Tensor>): void {
    let elements = 0;
    if (this.phase === 'forward') {
      for (const shape of Object.values(plan.outputs)) elements += numel(shape);
    } else {
      for (const gradient of this.op.gradients) elements += numel(tensors[gradient.replace(/^grad_/, '')]?.shape ?? []);
    }
    if (!(elements <= this.config.maxOutputElements)) throw new ApiError('OUTPUT_TOO_LARGE', elements, this.config.maxOutputElements);
    // A backward costs about a forward plus spreading the gradient back.
    const work = this.phase === 'forward' ? plan.work : 2 * plan.work;
    if (!(work <= this.config.maxWork)) throw new ApiError('WORK_TOO_LARGE', Math.round(work), this.config.maxWork);
  }

  async handle(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const body = request.body as Record<string, unknown>;
    const encoding = (body.encoding as Encoding | undefined) ?? 'json';
    const tensors = this.decode(body);
    const params: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      if (!this.tensorNames.has(key) && key !== 'encoding' && value !== undefined) params[key] = value;
    }
    const plan = this.plan(tensors, params);
    this.checkLimits(plan, tensors);
    const fault = this.config.testFaults ? parseFault(request.headers['x-test-fault']) : undefined;
    const result = await app.computePool.run(
      { kind: 'op', op: this.op.name, phase: this.phase, params, tensors, ...(fault ? { fault } : {}) },
      clientGone(reply),
      request.log,
    );
    reply.type('application/json; charset=utf-8').send(encodeTensors(result, encoding));
  }
}

/** Adds `grad_output` (ones, of the output's shape) to a forward example, using the op's own plan. */
function backwardExample(op: OpSpec, forward: OpExample): OpExample | undefined {
  try {
    const shapes: Record<string, readonly number[]> = {};
    for (const arg of op.tensorArgs) {
      const t = forward.value[arg.name] as { shape?: number[]; data: unknown[] } | undefined;
      if (t) shapes[arg.name] = t.shape ?? [t.data.length];
    }
    const output = op.plan(shapes, Object.fromEntries(Object.entries(forward.value).filter(([k]) => !(k in shapes)))).outputs.output;
    if (!output) return undefined;
    const grad_output = { shape: output, data: new Array<number>(numel(output)).fill(1) };
    return { summary: `${forward.summary}, backward with a gradient of ones`, value: { ...forward.value, grad_output } };
  } catch {
    return undefined;
  }
}

function mapExamples(examples: Record<string, OpExample>, f: (e: OpExample) => OpExample | undefined) {
  const out: Record<string, OpExample> = {};
  for (const [key, value] of Object.entries(examples)) {
    const mapped = f(value);
    if (mapped) out[key] = mapped;
  }
  return out;
}

/** The request examples of an op route (`/v1/ops/max_pool2d`, `.../backward`), for the OpenAPI document. */
export function requestExamples(url: string): Record<string, OpExample> | undefined {
  const match = /^\/v1\/ops\/(\w+)(\/backward)?$/.exec(url);
  const op = match ? registry.get(match[1]!) : undefined;
  const definition = op && opSchemas.get(op.name)?.definition;
  if (!op || !definition) return undefined;
  const examples = match![2] ? mapExamples(definition.examples, (e) => backwardExample(op, e)) : definition.examples;
  return Object.keys(examples).length > 0 ? examples : undefined;
}

export function schemasFor(op: OpSpec): OpSchemas {
  return opSchemas.get(op.name) ?? fallbackSchemas(op.name, op.tensorArgs.map((a) => ({ ...a, description: a.name })));
}

export default async function opsRoutes(app: FastifyInstance, opts: { config: Config }) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const listing: z.infer<typeof opListSchema>['ops'] = [];

  for (const op of registry.values()) {
    const schemas = schemasFor(op);
    if (!opSchemas.has(op.name)) app.log.warn({ op: op.name }, 'op has no request schema; serving it with unchecked arguments');
    const { definition } = schemas;
    const hasBackward = typeof op.backward === 'function' && op.gradients.length > 0;

    for (const phase of hasBackward ? (['forward', 'backward'] as const) : (['forward'] as const)) {
      const handler = new OpHandler(op, phase, opts.config);
      const body = phase === 'forward' ? schemas.forward : schemas.backward;
      const requestFields = new Set(Object.keys(body.shape));
      routes.post(phase === 'forward' ? `/v1/ops/${op.name}` : `/v1/ops/${op.name}/backward`, {
        schema: {
          summary: phase === 'forward' ? op.summary : `Gradients of ${op.name}`,
          description:
            phase === 'forward'
              ? `Runs \`${op.summary}\` on a worker thread.`
              : `The gradients (${op.gradients.join(', ')}) of \`sum(output * grad_output)\`, as autograd computes them for \`${op.summary}\`.`,
          operationId: phase === 'forward' ? op.name : `${op.name}_backward`,
          tags: [definition.tag],
          body,
          response: {
            200: phase === 'forward'
              ? forwardResultSchema.meta({ description: 'The result tensors.' })
              : backwardResultSchema.meta({ description: 'The gradients.' }),
            ...errorResponses,
          },
        },
        preValidation: async (request) => {
          request.body = fromGoldenCase(request.body, requestFields) as typeof request.body;
        },
        handler: (request, reply) => handler.handle(app, request, reply),
      });
    }

    listing.push({
      name: op.name,
      summary: op.summary,
      tag: definition.tag,
      path: `/v1/ops/${op.name}`,
      backward_path: hasBackward ? `/v1/ops/${op.name}/backward` : null,
      tensors: op.tensorArgs.map((a) => ({ name: a.name, kind: a.kind, optional: a.optional ?? false })),
      gradients: [...op.gradients],
      arguments: z.toJSONSchema(schemas.kwargs, {
        target: 'draft-2020-12',
        io: 'input',
        unrepresentable: 'any',
        override: jsonSchemaOverride,
      }) as Record<string, unknown>,
    });
  }

  routes.get('/v1/ops', {
    schema: {
      summary: 'List the ops',
      description: 'Every op with its tensors, gradients and keyword arguments (as JSON Schema).',
      operationId: 'listOps',
      tags: ['service'],
      response: { 200: opListSchema.meta({ description: 'The ops.' }), '4xx': errorSchema, 500: errorResponses[500] },
    },
    handler: async () => ({ ops: listing }),
  });

  // Any other name: a 404 that says where the list is.
  app.post('/v1/ops/:fn', { schema: { hide: true } }, async (request) => {
    throw new ApiError('UNKNOWN_OP', (request.params as { fn: string }).fn);
  });
  app.post('/v1/ops/:fn/backward', { schema: { hide: true } }, async (request) => {
    const { fn } = request.params as { fn: string };
    throw registry.has(fn) ? new ApiError('NO_BACKWARD', fn) : new ApiError('UNKNOWN_OP', fn);
  });
}
