import type { OpSpec } from '../registry.js';

export const adaptivePoolOps: OpSpec[] = [];
