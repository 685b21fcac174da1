/**
 * The life of a training job:
 *
 *   queued ──► running ──► succeeded | failed
 *     │           │
 *     │           └──► cancelling ──► cancelled
 *     └──────────────────────────────► cancelled   (cancelled before it started)
 *
 * `running → queued` happens only when the service restarts while the job runs: the job waits for
 * a worker again and resumes from its last checkpoint. Every transition is timestamped.
 */
export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelling', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

const allowed: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ['running', 'cancelled', 'failed'],
  running: ['succeeded', 'failed', 'cancelling', 'queued'],
  cancelling: ['cancelled', 'failed'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function isTerminal(state: JobState): boolean {
  return allowed[state].length === 0;
}

export function canTransition(from: JobState, to: JobState): boolean {
  return allowed[from].includes(to);
}

export interface Transition {
  readonly state: JobState;
  readonly at: string;
  readonly reason?: string;
}

export class InvalidTransitionError extends Error {
  override readonly name = 'InvalidTransitionError';
  constructor(
    readonly from: JobState,
    readonly to: JobState,
  ) {
    super(`a job cannot go from ${from} to ${to}`);
  }
}

/** Returns the transition to record, or throws when the state machine forbids it. */
export function transition(from: JobState, to: JobState, reason?: string, now = new Date()): Transition {
  if (!canTransition(from, to)) throw new InvalidTransitionError(from, to);
  return { state: to, at: now.toISOString(), ...(reason ? { reason } : {}) };
}
