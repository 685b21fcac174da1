/**
 * Service configuration, read from the environment once at start and validated, so that a bad
 * value stops the process with a message instead of surfacing later as odd behaviour.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';

const integer = (min: number, fallback: number) => z.coerce.number().int().min(min).default(fallback);

const flag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .default('0')
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

/** Every variable the service reads, with its default. The README's configuration table mirrors this. */
export const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WORKER_THREADS: integer(1, Math.max(1, availableParallelism())),
  WORKER_MAX_QUEUE: integer(0, 64),
  TASK_TIMEOUT_MS: integer(1, 30_000),
  BODY_LIMIT_BYTES: integer(1024, 64 * 1024 * 1024),
  MAX_TENSOR_ELEMENTS: integer(1, 16 * 1024 * 1024),
  MAX_OUTPUT_ELEMENTS: integer(1, 16 * 1024 * 1024),
  MAX_WORK: integer(1, 4_000_000_000),
  SHUTDOWN_GRACE_MS: integer(0, 10_000),
  DATA_DIR: z.string().min(1).default('data'),
  TRAINING_CONCURRENCY: integer(1, 1),
  TRAINING_MAX_BATCH_ELEMENTS: integer(1, 64 * 1024 * 1024),
  UPLOAD_LIMIT_BYTES: integer(1024, 64 * 1024 * 1024),
  /** Lets tests make a worker crash, hang or stall through a request header. Never enable in production. */
  TEST_FAULTS: flag,
});

export interface Config {
  port: number;
  host: string;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  workerThreads: number;
  /** Tasks that may wait for a worker; one more is refused with 503. */
  workerMaxQueue: number;
  /** Deadline for one task, counted from submission; a task past it is stopped (504). */
  taskTimeoutMs: number;
  bodyLimitBytes: number;
  maxTensorElements: number;
  maxOutputElements: number;
  /** Upper bound on an op's estimated scalar operations for one request. */
  maxWork: number;
  shutdownGraceMs: number;
  dataDir: string;
  /** Training jobs running at once; the others wait queued. */
  trainingConcurrency: number;
  /** Activation values one training or inference batch may hold. */
  trainingMaxBatchElements: number;
  /** Upper bound on each uploaded file (IDX datasets, safetensors weights). */
  uploadLimitBytes: number;
  testFaults: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the environment. Throws ConfigError naming every bad variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  // Unset and empty variables both mean "use the default".
  const present = Object.fromEntries(
    Object.keys(envSchema.shape)
      .filter((key) => env[key] !== undefined && env[key] !== '')
      .map((key) => [key, env[key]]),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    workerThreads: e.WORKER_THREADS,
    workerMaxQueue: e.WORKER_MAX_QUEUE,
    taskTimeoutMs: e.TASK_TIMEOUT_MS,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    maxTensorElements: e.MAX_TENSOR_ELEMENTS,
    maxOutputElements: e.MAX_OUTPUT_ELEMENTS,
    maxWork: e.MAX_WORK,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    dataDir: e.DATA_DIR,
    trainingConcurrency: e.TRAINING_CONCURRENCY,
    trainingMaxBatchElements: e.TRAINING_MAX_BATCH_ELEMENTS,
    uploadLimitBytes: e.UPLOAD_LIMIT_BYTES,
    testFaults: e.TEST_FAULTS,
  };
}
