import type { OpSpec } from '../registry.js';

export const avgPoolOps: OpSpec[] = [];
