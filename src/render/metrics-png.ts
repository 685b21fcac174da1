/**
 * The learning-curve chart (chart.ts) as a PNG, drawn here without a graphics library: shapes are
 * rasterised at twice the chart's size into an RGB buffer, text with a 5x7 bitmap font, and the
 * buffer is written as a PNG (zlib-deflated scanlines). Swagger UI shows PNG replies as pictures.
 * Drawing takes a few milliseconds; the compression, the larger part, runs off the event loop.
 */
import { promisify } from 'node:util';
import { deflate } from 'node:zlib';
import type { EpochMetrics } from '../jobs/store.js';
import { metricsChart, type Chart, type Shape } from './chart.js';

/** Pixels per chart unit: the picture is drawn at twice the SVG's size, for legible text. */
const SCALE = 2;

/** 5x7 glyphs, rows top to bottom, '#' set. Upper case is drawn as lower case. */
const GLYPHS: Record<string, string> = {
  '0': '.###./#...#/#..##/#.#.#/##..#/#...#/.###.',
  '1': '..#../.##../..#../..#../..#../..#../.###.',
  '2': '.###./#...#/....#/...#./..#../.#.../#####',
  '3': '#####/...#./..#../...#./....#/#...#/.###.',
  '4': '...#./..##./.#.#./#..#./#####/...#./...#.',
  '5': '#####/#..../####./....#/....#/#...#/.###.',
  '6': '..##./.#.../#..../####./#...#/#...#/.###.',
  '7': '#####/....#/...#./..#../.#.../.#.../.#...',
  '8': '.###./#...#/#...#/.###./#...#/#...#/.###.',
  '9': '.###./#...#/#...#/.####/....#/...#./.##..',
  a: '...../...../.###./....#/.####/#...#/.####',
  b: '#..../#..../#.##./##..#/#...#/#...#/####.',
  c: '...../...../.###./#..../#..../#...#/.###.',
  d: '....#/....#/.##.#/#..##/#...#/#...#/.####',
  e: '...../...../.###./#...#/#####/#..../.###.',
  f: '..##./.#..#/.#.../###../.#.../.#.../.#...',
  g: '...../.####/#...#/#...#/.####/....#/.###.',
  h: '#..../#..../#.##./##..#/#...#/#...#/#...#',
  i: '..#../...../.##../..#../..#../..#../.###.',
  j: '...#./...../..##./...#./...#./#..#./.##..',
  k: '#..../#..../#..#./#.#../##.../#.#../#..#.',
  l: '.##../..#../..#../..#../..#../..#../.###.',
  m: '...../...../##.#./#.#.#/#.#.#/#...#/#...#',
  n: '...../...../#.##./##..#/#...#/#...#/#...#',
  o: '...../...../.###./#...#/#...#/#...#/.###.',
  p: '...../...../####./#...#/####./#..../#....',
  q: '...../...../.##.#/#..##/.####/....#/....#',
  r: '...../...../#.##./##..#/#..../#..../#....',
  s: '...../...../.###./#..../.###./....#/####.',
  t: '.#.../.#.../###../.#.../.#.../.#..#/..##.',
  u: '...../...../#...#/#...#/#...#/#..##/.##.#',
  v: '...../...../#...#/#...#/#...#/.#.#./..#..',
  w: '...../...../#...#/#...#/#.#.#/#.#.#/.#.#.',
  x: '...../...../#...#/.#.#./..#../.#.#./#...#',
  y: '...../...../#...#/#...#/.####/....#/.###.',
  z: '...../...../#####/...#./..#../.#.../#####',
  ' ': '...../...../...../...../...../...../.....',
  '.': '...../...../...../...../...../.##../.##..',
  '-': '...../...../...../.###./...../...../.....',
  _: '...../...../...../...../...../...../#####',
  '(': '...#./..#../.#.../.#.../.#.../..#../...#.',
  ')': '.#.../..#../...#./...#./...#./..#../.#...',
  ':': '...../.##../.##../...../.##../.##../.....',
  '+': '...../..#../..#../#####/..#../..#../.....',
  '?': '.###./#...#/....#/...#./..#../...../..#..',
};
const GLYPH_ROWS = 7;
const GLYPH_ADVANCE = 6;

type Rgb = readonly [number, number, number];

function parseColor(color: string): Rgb {
  const hex = /^#([0-9a-f]{6})$/i.exec(color)?.[1];
  if (!hex) throw new Error(`unsupported colour ${color}`);
  const v = parseInt(hex, 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

class Raster {
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, [r, g, b]: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.pixels[i] = r;
    this.pixels[i + 1] = g;
    this.pixels[i + 2] = b;
  }

  fillRect(x: number, y: number, w: number, h: number, [r, g, b]: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let j = Math.max(0, Math.round(y)); j < y1; j++) {
      for (let i = (j * this.width + x0) * 3, end = (j * this.width + x1) * 3; i < end; i += 3) {
        this.pixels[i] = r;
        this.pixels[i + 1] = g;
        this.pixels[i + 2] = b;
      }
    }
  }

  disc(cx: number, cy: number, r: number, color: Rgb): void {
    for (let j = Math.floor(-r); j <= Math.ceil(r); j++) {
      for (let i = Math.floor(-r); i <= Math.ceil(r); i++) if (i * i + j * j <= r * r) this.set(cx + i, cy + j, color);
    }
  }

  /** A line `width` pixels thick: a square brush stepped along it, one pixel at a time. */
  line(x1: number, y1: number, x2: number, y2: number, width: number, color: Rgb): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x2 - x1), Math.abs(y2 - y1))));
    const half = width / 2;
    for (let s = 0; s <= steps; s++) {
      const x = x1 + ((x2 - x1) * s) / steps;
      const y = y1 + ((y2 - y1) * s) / steps;
      this.fillRect(x - half, y - half, width, width, color);
    }
  }

  text(text: string, x: number, y: number, scale: number, bold: boolean, color: Rgb): void {
    let left = x;
    for (const ch of text.toLowerCase()) {
      const rows = (GLYPHS[ch] ?? GLYPHS['?']!).split('/');
      rows.forEach((row, r) => {
        for (let c = 0; c < row.length; c++) {
          if (row[c] !== '#') continue;
          this.fillRect(left + c * scale, y + r * scale, scale + (bold ? 1 : 0), scale, color);
        }
      });
      left += GLYPH_ADVANCE * scale;
    }
  }
}

const BLACK: Rgb = [0, 0, 0];

function draw(raster: Raster, s: Shape): void {
  const k = SCALE;
  switch (s.kind) {
    case 'rect':
      if (s.fill) raster.fillRect(s.x * k, s.y * k, s.w * k, s.h * k, parseColor(s.fill));
      if (s.stroke) {
        const c = parseColor(s.stroke);
        raster.fillRect(s.x * k, s.y * k, s.w * k, k, c);
        raster.fillRect(s.x * k, (s.y + s.h) * k - k, s.w * k, k, c);
        raster.fillRect(s.x * k, s.y * k, k, s.h * k, c);
        raster.fillRect((s.x + s.w) * k - k, s.y * k, k, s.h * k, c);
      }
      return;
    case 'line':
      raster.line(s.x1 * k, s.y1 * k, s.x2 * k, s.y2 * k, s.width * k, parseColor(s.stroke));
      return;
    case 'polyline':
      for (let i = 1; i < s.points.length; i++) {
        const [[x1, y1], [x2, y2]] = [s.points[i - 1]!, s.points[i]!];
        raster.line(x1 * k, y1 * k, x2 * k, y2 * k, s.width * k, parseColor(s.stroke));
      }
      return;
    case 'dot':
      raster.disc(s.cx * k, s.cy * k, s.r * k, parseColor(s.fill));
      return;
    case 'text': {
      // Font pixels per chart unit: 12-unit text is 7 chart units tall, 14-unit text a little more.
      const scale = Math.max(1, Math.round((s.size * k) / 12));
      const width = (s.text.length * GLYPH_ADVANCE - 1) * scale;
      const x = s.x * k - (s.anchor === 'middle' ? width / 2 : s.anchor === 'end' ? width : 0);
      raster.text(s.text, x, s.y * k - (GLYPH_ROWS * scale) / 2, scale, s.bold ?? false, BLACK);
      return;
    }
  }
}

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(bytes: Uint8Array): number {
  let c = -1;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 255]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const deflateAsync = promisify(deflate);

/** An 8-bit RGB PNG of the raster; the compression runs off the event loop (libuv's pool). */
export async function encodePng(width: number, height: number, rgb: Uint8Array): Promise<Buffer> {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type RGB, deflate, no filter method, no interlace
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) rows.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', await deflateAsync(rows)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

export function chartPng(chart: Chart): Promise<Buffer> {
  const raster = new Raster(chart.width * SCALE, chart.height * SCALE);
  for (const shape of chart.shapes) draw(raster, shape);
  return encodePng(raster.width, raster.height, raster.pixels);
}

export function renderMetricsPng(metrics: readonly EpochMetrics[], title: string, totalEpochs?: number): Promise<Buffer> {
  return chartPng(metricsChart(metrics, title, totalEpochs));
}
