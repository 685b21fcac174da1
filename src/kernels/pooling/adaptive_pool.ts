/** The adaptive pooling family: average and max, 1d to 3d, one operator per file. */
import type { OpSpec } from '../registry.js';
import { adaptiveAvgPoolOps } from './adaptive_avg_pool.js';
import { adaptiveMaxPoolOps } from './adaptive_max_pool.js';

export {
  adaptiveAvgPool1d,
  adaptiveAvgPool1dBackward,
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  adaptiveAvgPool3d,
  adaptiveAvgPool3dBackward,
  planAdaptiveAvgPool,
} from './adaptive_avg_pool.js';
export {
  adaptiveMaxPool1d,
  adaptiveMaxPool1dBackward,
  adaptiveMaxPool2d,
  adaptiveMaxPool2dBackward,
  adaptiveMaxPool3d,
  adaptiveMaxPool3dBackward,
  planAdaptiveMaxPool,
  type AdaptiveMaxOptions,
} from './adaptive_max_pool.js';
export type { AdaptiveOptions } from './adaptive_geometry.js';

export const adaptivePoolOps: OpSpec[] = [...adaptiveAvgPoolOps, ...adaptiveMaxPoolOps];
