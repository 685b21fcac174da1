import type { OpSpec } from '../registry.js';

export const reductionOps: OpSpec[] = [];
