/**
 * Training runs on a piscina pool of its own, apart from the operator pool, so a job can never
 * occupy a worker that /v1/ops needs. Each job is one task; it gets a MessagePort for progress and
 * control. When the task ends, any messages it posted last are drained synchronously, so none is
 * lost to the race between the port and the task's completion.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ControlMessage, TrainingTask, WorkerEvent } from './protocol.js';

export interface TrainingThread {
  control(message: ControlMessage): void;
  /** Resolves once the task has ended and its last events were delivered. */
  readonly exited: Promise<ThreadExit>;
  terminate(): Promise<void>;
}

export interface ThreadExit {
  readonly code: number;
  /** Why the thread ended abnormally (an uncaught error, or the worker dying). */
  readonly error?: string;
}

export type StartTrainingThread = (task: TrainingTask, onEvent: (event: WorkerEvent) => void) => TrainingThread;

// Under vitest or tsx the sources run as TypeScript, and the worker needs the tsx loader to do the same.
const isTs = import.meta.url.endsWith('.ts');
const workerUrl = new URL(isTs ? '../workers/training-worker.ts' : '../workers/training-worker.js', import.meta.url);

export class TrainingPool {
  private readonly pool: Piscina;

  constructor(threads: number) {
    this.pool = new Piscina({
      filename: workerUrl.href,
      minThreads: 0,
      maxThreads: threads,
      // Keep an idle thread a while: the next job reuses its loaded modules and built-in data.
      idleTimeout: 60_000,
      execArgv: isTs ? ['--import', 'tsx'] : [],
    });
  }

  readonly start: StartTrainingThread = (task, onEvent) => {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (event: WorkerEvent) => onEvent(event));
    const abort = new AbortController();
    const drain = () => {
      for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) onEvent(m.message as WorkerEvent);
      port1.close();
    };
    const exited = this.pool.run({ task, port: port2 }, { transferList: [port2] as never, signal: abort.signal }).then(
      (): ThreadExit => {
        drain();
        return { code: 0 };
      },
      (err: unknown): ThreadExit => {
        drain();
        return { code: 1, error: err instanceof Error ? err.message : String(err) };
      },
    );
    return {
      control: (message) => port1.postMessage(message),
      exited,
      terminate: async () => {
        abort.abort();
        await exited;
      },
    };
  };

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
