/**
 * The compute worker: runs one op's forward or backward from the kernel registry, by name.
 * Tensor buffers arrive and leave by transfer. Argument errors come back as data (a structured
 * clone would drop the error's class and PyTorch exception type); anything else is thrown and
 * answered as an internal error.
 */
import { Piscina } from 'piscina';
import { KernelArgumentError, type PythonErrorType } from '../kernels/errors.js';
import { getOp, type Params } from '../kernels/registry.js';
import type { Tensor } from '../kernels/tensor.js';
import { runPredict, type PredictTask } from '../registry/predict-task.js';

/** Failures the service can be asked to simulate when started with TEST_FAULTS=1. */
export type Fault = { kind: 'crash' } | { kind: 'hang' } | { kind: 'delay'; ms: number };

export interface OpTask {
  kind: 'op';
  op: string;
  phase: 'forward' | 'backward';
  params: Params;
  tensors: Record<string, Tensor>;
  fault?: Fault;
}

export type ComputeTask = OpTask | PredictTask | { kind: 'ping' };

export type ComputeResult =
  | { ok: true; tensors: Record<string, Tensor> }
  | { ok: false; message: string; pythonType: PythonErrorType };

export interface ComputeWorkerData {
  testFaults: boolean;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function simulate(fault: Fault): void {
  switch (fault.kind) {
    case 'crash':
      process.exit(70);
      break;
    case 'hang':
      for (;;) sleep(1000);
    case 'delay':
      sleep(fault.ms);
      break;
  }
}

/** Wraps a result so piscina transfers every tensor buffer instead of copying it. */
function movable(result: ComputeResult) {
  const buffers = new Set<ArrayBuffer>();
  if (result.ok) {
    for (const [name, t] of Object.entries(result.tensors)) {
      let data = t.data;
      // A view into a larger or shared buffer is copied, so that only its own bytes cross.
      if (!(data.buffer instanceof ArrayBuffer) || data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || buffers.has(data.buffer)) {
        data = data.slice();
        result.tensors[name] = { ...t, data };
      }
      buffers.add(data.buffer as ArrayBuffer);
    }
  }
  return Piscina.move({ [Piscina.transferableSymbol]: [...buffers], [Piscina.valueSymbol]: result } as never);
}

function runOp(task: OpTask): Record<string, Tensor> {
  const { testFaults } = (Piscina.workerData ?? {}) as Partial<ComputeWorkerData>;
  if (task.fault && testFaults) simulate(task.fault);
  const op = getOp(task.op);
  if (!op) throw new Error(`unknown op ${task.op}`);
  if (task.phase === 'forward') return op.forward(task.tensors, task.params);
  if (!op.backward) throw new Error(`op ${task.op} has no backward`);
  return op.backward(task.tensors, task.params);
}

export default function compute(task: ComputeTask) {
  if (task.kind === 'ping') return { ok: true, tensors: {} } satisfies ComputeResult;
  try {
    return movable({ ok: true, tensors: task.kind === 'predict' ? runPredict(task) : runOp(task) });
  } catch (error) {
    // An argument error is the caller's (a 400), for a model's inference as for a single op.
    if (error instanceof KernelArgumentError) return { ok: false, message: error.message, pythonType: error.pythonType } satisfies ComputeResult;
    throw error;
  }
}
