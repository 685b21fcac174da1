/**
 * A job's learning curves as a self-contained SVG (see chart.ts for the layout). Plain SVG 1.1
 * with no scripts or external references, so a browser and an <img> tag show it.
 */
import type { EpochMetrics } from '../jobs/store.js';
import { metricsChart, type Chart, type Shape } from './chart.js';

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const n = (v: number) => String(Number(v.toFixed(1)));

function shapeSvg(s: Shape): string {
  switch (s.kind) {
    case 'rect':
      return `<rect x="${n(s.x)}" y="${n(s.y)}" width="${n(s.w)}" height="${n(s.h)}" fill="${s.fill ?? 'none'}"${s.stroke ? ` stroke="${s.stroke}"` : ''}/>`;
    case 'line':
      return `<line x1="${n(s.x1)}" y1="${n(s.y1)}" x2="${n(s.x2)}" y2="${n(s.y2)}" stroke="${s.stroke}" stroke-width="${s.width}"/>`;
    case 'polyline':
      return `<path d="${s.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${n(x)},${n(y)}`).join(' ')}" fill="none" stroke="${s.stroke}" stroke-width="${s.width}"/>`;
    case 'dot':
      return `<circle cx="${n(s.cx)}" cy="${n(s.cy)}" r="${s.r}" fill="${s.fill}"/>`;
    case 'text': {
      const attrs = [
        `x="${n(s.x)}"`,
        `y="${n(s.y)}"`,
        s.anchor === 'start' ? '' : `text-anchor="${s.anchor}"`,
        'dominant-baseline="middle"',
        `font-family="sans-serif" font-size="${s.size}"`,
        s.bold ? 'font-weight="bold"' : '',
      ];
      return `<text ${attrs.filter(Boolean).join(' ')}>${escapeXml(s.text)}</text>`;
    }
  }
}

export function chartSvg(chart: Chart): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${chart.width}" height="${chart.height}" viewBox="0 0 ${chart.width} ${chart.height}">`,
    `<title>${escapeXml(chart.title)}</title>`,
    ...chart.shapes.map(shapeSvg),
    '</svg>',
    '',
  ].join('\n');
}

export function renderMetricsSvg(metrics: readonly EpochMetrics[], title: string, totalEpochs?: number): string {
  return chartSvg(metricsChart(metrics, title, totalEpochs));
}
