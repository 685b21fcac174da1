import type { OpSpec } from '../registry.js';

export const layerOps: OpSpec[] = [];
