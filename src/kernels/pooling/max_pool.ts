import type { OpSpec } from '../registry.js';

export const maxPoolOps: OpSpec[] = [];
