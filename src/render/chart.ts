/**
 * The learning-curve chart of a job as a list of simple shapes (rectangles, lines, polylines,
 * dots, text), laid out once and drawn by two backends: SVG for browsers, PNG for viewers that only
 * show raster images (Swagger UI shows an SVG reply as its source text).
 */
import type { EpochMetrics } from '../jobs/store.js';

export type Anchor = 'start' | 'middle' | 'end';

export type Shape =
  | { readonly kind: 'rect'; readonly x: number; readonly y: number; readonly w: number; readonly h: number; readonly fill?: string; readonly stroke?: string }
  | { readonly kind: 'line'; readonly x1: number; readonly y1: number; readonly x2: number; readonly y2: number; readonly stroke: string; readonly width: number }
  | { readonly kind: 'polyline'; readonly points: readonly (readonly [number, number])[]; readonly stroke: string; readonly width: number }
  | { readonly kind: 'dot'; readonly cx: number; readonly cy: number; readonly r: number; readonly fill: string }
  | { readonly kind: 'text'; readonly x: number; readonly y: number; readonly text: string; readonly size: number; readonly anchor: Anchor; readonly bold?: boolean };

export interface Chart {
  readonly width: number;
  readonly height: number;
  readonly title: string;
  readonly shapes: readonly Shape[];
}

interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
}

const WIDTH = 800;
const HEIGHT = 360;
const PANEL = { width: 340, height: 230, top: 60 };
const AXIS = '#888888';
const GRID = '#eeeeee';

/** Round numbers for an axis: about `count` ticks covering [min, max]. */
function ticks(min: number, max: number, count: number): number[] {
  if (max === min) return [min];
  const rough = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? rough;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function formatTick(v: number): string {
  return Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.001) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

function panel(x0: number, title: string, series: readonly Series[], epochs: number, yRange: [number, number]): Shape[] {
  let [yMin, yMax] = yRange;
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = [0, 1];
  if (yMin === yMax) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const { width, height, top } = PANEL;
  const xOf = (epoch: number) => x0 + (epochs <= 1 ? width / 2 : ((epoch - 1) / (epochs - 1)) * width);
  const yOf = (v: number) => top + height - ((v - yMin) / (yMax - yMin)) * height;

  const shapes: Shape[] = [
    { kind: 'text', x: x0 + width / 2, y: top - 28, text: title, size: 12, anchor: 'middle', bold: true },
    { kind: 'rect', x: x0, y: top, w: width, h: height, stroke: AXIS },
  ];
  for (const t of ticks(yMin, yMax, 5)) {
    shapes.push({ kind: 'line', x1: x0, y1: yOf(t), x2: x0 + width, y2: yOf(t), stroke: GRID, width: 1 });
    shapes.push({ kind: 'text', x: x0 - 6, y: yOf(t), text: formatTick(t), size: 12, anchor: 'end' });
  }
  for (const e of ticks(1, Math.max(epochs, 1), Math.min(Math.max(epochs, 1), 10)).filter(Number.isInteger)) {
    shapes.push({ kind: 'text', x: xOf(e), y: top + height + 16, text: String(e), size: 12, anchor: 'middle' });
  }
  shapes.push({ kind: 'text', x: x0 + width / 2, y: top + height + 34, text: 'epoch', size: 12, anchor: 'middle' });
  series.forEach((s, i) => {
    const finite = s.points.filter(([, y]) => Number.isFinite(y)).map(([e, v]) => [xOf(e), yOf(v)] as const);
    if (finite.length > 0) shapes.push({ kind: 'polyline', points: finite, stroke: s.color, width: 2 });
    for (const [cx, cy] of finite) shapes.push({ kind: 'dot', cx, cy, r: 3, fill: s.color });
    const lx = x0 + i * 130;
    const ly = top - 12;
    shapes.push({ kind: 'line', x1: lx, y1: ly, x2: lx + 18, y2: ly, stroke: s.color, width: 2 });
    shapes.push({ kind: 'text', x: lx + 22, y: ly, text: s.label, size: 12, anchor: 'start' });
  });
  return shapes;
}

function seriesOf(metrics: readonly EpochMetrics[], key: keyof EpochMetrics, label: string, color: string): Series | undefined {
  const points = metrics.filter((m) => typeof m[key] === 'number').map((m) => [m.epoch, m[key] as number] as const);
  return points.length > 0 ? { label, color, points } : undefined;
}

/** Loss per epoch (train and test) on the left, accuracy on the right. */
export function metricsChart(metrics: readonly EpochMetrics[], title: string, totalEpochs?: number): Chart {
  const epochs = Math.max(totalEpochs ?? 0, ...metrics.map((m) => m.epoch), 1);
  const loss = [seriesOf(metrics, 'train_loss', 'train loss', '#1f77b4'), seriesOf(metrics, 'test_loss', 'test loss', '#ff7f0e')].filter(
    (s): s is Series => s !== undefined,
  );
  const accuracy = [
    seriesOf(metrics, 'train_accuracy', 'train accuracy', '#2ca02c'),
    seriesOf(metrics, 'test_accuracy', 'test accuracy', '#d62728'),
  ].filter((s): s is Series => s !== undefined);
  const lossValues = loss.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const shapes: Shape[] = [
    { kind: 'rect', x: 0, y: 0, w: WIDTH, h: HEIGHT, fill: '#ffffff' },
    { kind: 'text', x: WIDTH / 2, y: 18, text: title, size: 14, anchor: 'middle' },
  ];
  if (metrics.length === 0) {
    shapes.push({ kind: 'text', x: WIDTH / 2, y: HEIGHT / 2, text: 'no epoch finished yet', size: 12, anchor: 'middle' });
  } else {
    shapes.push(...panel(60, 'loss', loss, epochs, [0, Math.max(...lossValues, 1e-6)]));
    shapes.push(...panel(450, 'accuracy', accuracy, epochs, [0, 1]));
  }
  return { width: WIDTH, height: HEIGHT, title, shapes };
}
