/**
 * The training pool's task: runs one job (src/jobs/training-run.ts) and talks to the job manager
 * over the MessagePort it is given. Control messages are read synchronously between batches
 * (receiveMessageOnPort), so a cancel is seen at the next batch boundary.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { runTraining } from '../jobs/training-run.js';
import type { ControlMessage, TrainingTask, WorkerEvent } from '../jobs/protocol.js';

export interface TrainingWorkerInput {
  readonly task: TrainingTask;
  readonly port: MessagePort;
}

export default async function train({ task, port }: TrainingWorkerInput): Promise<void> {
  try {
    await runTraining(task, {
      post: (event: WorkerEvent) => port.postMessage(event),
      poll: () => receiveMessageOnPort(port)?.message as ControlMessage | undefined,
    });
  } finally {
    port.close();
  }
}
