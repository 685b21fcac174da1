/**
 * Starts one worker thread per running training job, apart from the operator pool, so a job can
 * never occupy a worker that /v1/ops needs. The worker gets a MessagePort for progress and
 * control; when it exits, any messages it posted last are drained synchronously, so none is lost
 * to the race between the port and the exit event.
 */
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { ControlMessage, TrainingTask, WorkerEvent } from './protocol.js';

export interface TrainingThread {
  control(message: ControlMessage): void;
  /** Resolves with the exit code once the thread has ended and its last events were delivered. */
  readonly exited: Promise<number>;
  terminate(): Promise<void>;
}

export type StartTrainingThread = (task: TrainingTask, onEvent: (event: WorkerEvent) => void) => TrainingThread;

// Under vitest or tsx the sources run as TypeScript, and a worker needs the tsx loader to do the same.
const isTs = import.meta.url.endsWith('.ts');
const workerUrl = new URL(isTs ? '../workers/training-worker.ts' : '../workers/training-worker.js', import.meta.url);

export const startTrainingThread: StartTrainingThread = (task, onEvent) => {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(workerUrl, {
    workerData: { task, port: port2 },
    transferList: [port2],
    execArgv: isTs ? ['--import', 'tsx'] : [],
    name: `training ${task.jobId}`,
  });
  port1.on('message', (event: WorkerEvent) => onEvent(event));
  let errorCode = 0;
  worker.on('error', () => {
    errorCode = 1;
  });
  const exited = new Promise<number>((resolve) => {
    worker.once('exit', (code) => {
      for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) onEvent(m.message as WorkerEvent);
      port1.close();
      resolve(code || errorCode);
    });
  });
  return {
    control: (message) => port1.postMessage(message),
    exited,
    terminate: async () => {
      await worker.terminate();
      await exited;
    },
  };
};
