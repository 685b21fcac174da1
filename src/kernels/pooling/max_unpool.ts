import type { OpSpec } from '../registry.js';

export const maxUnpoolOps: OpSpec[] = [];
