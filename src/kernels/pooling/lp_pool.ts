import type { OpSpec } from '../registry.js';

export const lpPoolOps: OpSpec[] = [];
