/**
 * A job's learning curves as a self-contained SVG: loss per epoch (train and test) on the left,
 * accuracy per epoch on the right. Plain SVG 1.1 with no scripts or external references, so a
 * browser, an <img> tag and Swagger UI all show it.
 */
import type { EpochMetrics } from '../jobs/store.js';

interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
}

const WIDTH = 800;
const HEIGHT = 360;
const PANEL = { width: 340, height: 230, top: 60 };
const font = (size = 12) => `font-family="sans-serif" font-size="${size}"`;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

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

function panel(x0: number, title: string, series: readonly Series[], epochs: number, yRange?: [number, number]): string {
  const values = series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  let [yMin, yMax] = yRange ?? [Math.min(...values, Infinity), Math.max(...values, -Infinity)];
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = [0, 1];
  if (yMin === yMax) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const { width, height, top } = PANEL;
  const xOf = (epoch: number) => x0 + (epochs <= 1 ? width / 2 : ((epoch - 1) / (epochs - 1)) * width);
  const yOf = (v: number) => top + height - ((v - yMin) / (yMax - yMin)) * height;

  const parts: string[] = [
    `<text x="${x0 + width / 2}" y="${top - 28}" text-anchor="middle" ${font()} font-weight="bold">${escapeXml(title)}</text>`,
    `<rect x="${x0}" y="${top}" width="${width}" height="${height}" fill="none" stroke="#888"/>`,
  ];
  for (const t of ticks(yMin, yMax, 5)) {
    const y = yOf(t).toFixed(1);
    parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + width}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" ${font()}>${formatTick(t)}</text>`);
  }
  for (const e of ticks(1, Math.max(epochs, 1), Math.min(Math.max(epochs, 1), 10)).filter(Number.isInteger)) {
    parts.push(`<text x="${xOf(e).toFixed(1)}" y="${top + height + 16}" text-anchor="middle" ${font()}>${e}</text>`);
  }
  parts.push(`<text x="${x0 + width / 2}" y="${top + height + 34}" text-anchor="middle" ${font()}>epoch</text>`);
  series.forEach((s, i) => {
    const finite = s.points.filter(([, y]) => Number.isFinite(y));
    if (finite.length > 0) {
      const d = finite.map(([e, v], j) => `${j === 0 ? 'M' : 'L'}${xOf(e).toFixed(1)},${yOf(v).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
      for (const [e, v] of finite) parts.push(`<circle cx="${xOf(e).toFixed(1)}" cy="${yOf(v).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    const ly = top - 12;
    const lx = x0 + i * 110;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 22}" y="${ly}" dominant-baseline="middle" ${font()}>${escapeXml(s.label)}</text>`);
  });
  return parts.join('\n');
}

function seriesOf(metrics: readonly EpochMetrics[], key: keyof EpochMetrics, label: string, color: string): Series | undefined {
  const points = metrics.filter((m) => typeof m[key] === 'number').map((m) => [m.epoch, m[key] as number] as const);
  return points.length > 0 ? { label, color, points } : undefined;
}

export function renderMetricsSvg(metrics: readonly EpochMetrics[], title: string, totalEpochs?: number): string {
  const epochs = Math.max(totalEpochs ?? 0, ...metrics.map((m) => m.epoch), 1);
  const loss = [
    seriesOf(metrics, 'train_loss', 'train loss', '#1f77b4'),
    seriesOf(metrics, 'test_loss', 'test loss', '#ff7f0e'),
  ].filter((s): s is Series => s !== undefined);
  const accuracy = [
    seriesOf(metrics, 'train_accuracy', 'train accuracy', '#2ca02c'),
    seriesOf(metrics, 'test_accuracy', 'test accuracy', '#d62728'),
  ].filter((s): s is Series => s !== undefined);
  const body =
    metrics.length === 0
      ? `<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" ${font()}>no epoch finished yet</text>`
      : [panel(60, 'loss', loss, epochs, [0, Math.max(...loss.flatMap((l) => l.points.map(([, v]) => v)).filter(Number.isFinite), 1e-6)]), panel(450, 'accuracy', accuracy, epochs, [0, 1])].join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" ${font(14)}>${escapeXml(title)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}
