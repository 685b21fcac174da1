/**
 * im2col's columns as gemm operands given through tables of taps (gemm_tables.ts), built once per
 * geometry: instead of writing the columns of an image and then packing them for gemm, the packed
 * blocks are gathered straight from the image; instead of writing the gradient's columns and
 * adding them back with col2im, gemm's result blocks are added straight onto the image's gradient.
 * The values and the order of the adds are the same, so are the results.
 */
import { gathersB, planGatheredB, planScatteredC, scattersC, type GatheredB, type ScatteredC } from '../gemm_tables.js';
import type { WindowMap } from './conv_core.js';

/** im2col's entry (row `kidx`, column `pos`) as an offset into `channels` image planes, or -1 in the padding. */
function tapOf(m: WindowMap, kidx: number, pos: number): number {
  const taps = m.kH * m.kW;
  const c = Math.floor(kidx / taps);
  const ki = Math.floor((kidx % taps) / m.kW);
  const kj = kidx % m.kW;
  const ih = Math.floor(pos / m.posW) * m.sH + ki * m.dH - m.pT;
  const iw = (pos % m.posW) * m.sW + kj * m.dW - m.pL;
  if (ih < 0 || ih >= m.imageH || iw < 0 || iw >= m.imageW) return -1;
  return (c * m.imageH + ih) * m.imageW + iw;
}

/**
 * Plans kept for the geometries in use (a network has a few), up to this many taps in all; the
 * least recently used go first.
 */
const MAX_CACHED_TAPS = 1 << 23;
const plans = new Map<string, GatheredB | ScatteredC>();
let cachedTaps = 0;

function cached<P extends GatheredB | ScatteredC>(key: string, build: () => P): P {
  let plan = plans.get(key) as P | undefined;
  if (plan) {
    // Most recently used last.
    plans.delete(key);
  } else {
    plan = build();
    cachedTaps += plan.table.length;
    for (const [oldest, old] of plans) {
      if (cachedTaps <= MAX_CACHED_TAPS) break;
      plans.delete(oldest);
      cachedTaps -= old.table.length;
    }
  }
  plans.set(key, plan);
  return plan;
}

const mapKey = (m: WindowMap, channels: number) =>
  [channels, m.imageH, m.imageW, m.posH, m.posW, m.kH, m.kW, m.sH, m.sW, m.pT, m.pL, m.dH, m.dW].join(',');

/**
 * The columns im2col writes for `channels` planes, [kdim x positions], as the B of a forward
 * W · cols with `outChannels` rows; null where gemm would not take it gathered.
 */
export function forwardColumns(m: WindowMap, channels: number, outChannels: number): GatheredB | null {
  const kdim = channels * m.kH * m.kW;
  const positions = m.posH * m.posW;
  const plane = m.imageH * m.imageW;
  if (!gathersB(outChannels, positions, kdim, channels * plane)) return null;
  return cached(`f${mapKey(m, channels)}`, () => planGatheredB(kdim, positions, channels * plane, (k, j) => tapOf(m, k, j)));
}

/**
 * The columns transposed, [positions x kdim], as the B of the weight gradient gO · colsᵀ with
 * `outChannels` rows; null where gemm would not take it gathered.
 */
export function weightColumns(m: WindowMap, channels: number, outChannels: number): GatheredB | null {
  const kdim = channels * m.kH * m.kW;
  const positions = m.posH * m.posW;
  const plane = m.imageH * m.imageW;
  if (!gathersB(outChannels, kdim, positions, channels * plane)) return null;
  return cached(`w${mapKey(m, channels)}`, () => planGatheredB(positions, kdim, channels * plane, (k, j) => tapOf(m, j, k)));
}

/**
 * The columns of the input's gradient, Wᵀ · gO as [kdim x positions] with `outChannels` as its
 * depth, added back onto the image's gradient as col2im adds them; null where gemm would not take it.
 */
export function inputColumns(m: WindowMap, channels: number, outChannels: number): ScatteredC | null {
  const kdim = channels * m.kH * m.kW;
  const positions = m.posH * m.posW;
  const plane = m.imageH * m.imageW;
  if (!scattersC(kdim, positions, outChannels, channels * plane)) return null;
  return cached(`c${mapKey(m, channels)}`, () => planScatteredC(kdim, positions, channels * plane, (i, j) => tapOf(m, i, j)));
}
