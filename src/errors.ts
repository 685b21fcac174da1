/**
 * Every error the service answers with, in one table: a stable `code`, its HTTP status and a
 * message (a template where the details vary). Clients match on `code`; the message is for people.
 * Every error reply has the same shape: `{statusCode, code, error, message}`, plus `python_error`
 * when the message is PyTorch's own.
 */
import { STATUS_CODES } from 'node:http';
import type { PythonErrorType } from './kernels/errors.js';

export const errorTable = {
  VALIDATION_ERROR: { status: 400, message: 'invalid request: %s' },
  MALFORMED_JSON: { status: 400, message: 'the request body is not valid JSON%s' },
  BAD_REQUEST: { status: 400, message: '%s' },
  INVALID_TENSOR: { status: 400, message: '%s' },
  INVALID_DTYPE: { status: 400, message: '%s' },
  /** An argument PyTorch rejects; the message is PyTorch's, verbatim. */
  INVALID_ARGUMENT: { status: 400, message: '%s' },
  INVALID_MODEL: { status: 400, message: '%s' },
  INVALID_DATASET: { status: 400, message: '%s' },
  INVALID_WEIGHTS: { status: 400, message: '%s' },
  INVALID_TRAINING: { status: 400, message: '%s' },
  NOT_FOUND: { status: 404, message: '%s' },
  CONFLICT: { status: 409, message: '%s' },
  UNKNOWN_OP: { status: 404, message: "unknown op '%s'; GET /v1/ops lists the available ones" },
  NO_BACKWARD: { status: 404, message: "op '%s' has no backward" },
  BODY_TOO_LARGE: { status: 413, message: 'the request body exceeds BODY_LIMIT_BYTES=%s' },
  TENSOR_TOO_LARGE: { status: 413, message: '%s has %s elements, more than MAX_TENSOR_ELEMENTS=%s' },
  UPLOAD_TOO_LARGE: { status: 413, message: '%s' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported content type %s; send application/json' },
  MULTIPART_REQUIRED: { status: 415, message: 'send multipart/form-data with %s' },
  OUTPUT_TOO_LARGE: { status: 422, message: 'the result would have %s elements, more than MAX_OUTPUT_ELEMENTS=%s' },
  WORK_TOO_LARGE: { status: 422, message: 'the request needs about %s operations, more than MAX_WORK=%s' },
  TRAINING_TOO_LARGE: { status: 422, message: '%s' },
  WORKER_CRASHED: { status: 500, message: 'the worker computing this request died; it has been replaced' },
  INTERNAL_ERROR: { status: 500, message: 'internal error' },
  /** The client went away before the result was ready; the task was stopped. */
  REQUEST_ABORTED: { status: 499, message: 'the client closed the request before it was answered' },
  QUEUE_FULL: { status: 503, message: 'all workers are busy and the queue is full; retry later' },
  NOT_READY: { status: 503, message: '%s' },
  TASK_TIMEOUT: { status: 504, message: 'the computation took longer than TASK_TIMEOUT_MS=%s and was stopped' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorTable;

/** The JSON body of every error reply. */
export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  error: string;
  message: string;
  python_error?: PythonErrorType;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly statusCode: number;
  /** Extra response headers, e.g. Retry-After. */
  headers: Record<string, string> = {};
  pythonError?: PythonErrorType;

  constructor(
    readonly code: ErrorCode,
    ...args: Array<string | number>
  ) {
    super(format(errorTable[code].message, args));
    this.statusCode = errorTable[code].status;
  }

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }

  body(): ErrorBody {
    return errorBody(this.code, this.message, this.pythonError);
  }
}

export function errorBody(code: ErrorCode, message: string, pythonError?: PythonErrorType): ErrorBody {
  const statusCode = errorTable[code].status;
  const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
  if (pythonError) body.python_error = pythonError;
  return body;
}

function format(template: string, args: ReadonlyArray<string | number>): string {
  let i = 0;
  return template.replace(/%s/g, () => String(args[i++] ?? ''));
}
