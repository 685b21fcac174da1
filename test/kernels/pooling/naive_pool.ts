/**
 * Deliberately naive max and avg pooling, written straight from PyTorch's documented rules for the
 * property tests. Nothing is shared with the kernels: every output enumerates its kernel taps and
 * tests each one against the input bounds. Arrays are plain number[]; `round` is Math.fround to
 * emulate float32 arithmetic (one rounding per add or divide) or the identity for float64.
 */

export interface NaiveDims {
  /** One entry per spatial dim, outermost first. */
  readonly kernel: readonly number[];
  readonly stride: readonly number[];
  readonly padding: readonly number[];
  readonly dilation: readonly number[];
  readonly ceilMode: boolean;
}

export type Round = (value: number) => number;

/**
 * The documented output length: floor (or ceil) of (in + 2p - d(k-1) - 1) / s, plus one; in ceil
 * mode a last window that would start in the right padding is ignored.
 */
export function naiveOutputSize(input: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  const room = input + 2 * p - d * (k - 1) - 1;
  let out = (ceilMode ? Math.ceil(room / s) : Math.floor(room / s)) + 1;
  if (ceilMode && (out - 1) * s >= input + p) out -= 1;
  return out;
}

/** All index tuples of a box, last index fastest. */
function* rowMajor(extents: readonly number[]): Generator<number[]> {
  const total = extents.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    const index = new Array<number>(extents.length);
    let rest = flat;
    for (let i = extents.length - 1; i >= 0; i--) {
      index[i] = rest % extents[i]!;
      rest = Math.floor(rest / extents[i]!);
    }
    yield index;
  }
}

function flatten(index: readonly number[], extents: readonly number[]): number {
  return index.reduce((flat, i, dim) => flat * extents[dim]! + i, 0);
}

export interface NaiveLayout {
  planes: number;
  inSizes: number[];
  outSizes: number[];
  outShape: number[];
}

export function naiveLayout(shape: readonly number[], dims: NaiveDims): NaiveLayout {
  const rank = dims.kernel.length;
  const leading = shape.slice(0, shape.length - rank);
  const inSizes = shape.slice(shape.length - rank);
  const outSizes = inSizes.map((n, i) =>
    naiveOutputSize(n, dims.kernel[i]!, dims.stride[i]!, dims.padding[i]!, dims.dilation[i]!, dims.ceilMode),
  );
  return { planes: leading.reduce((a, b) => a * b, 1), inSizes, outSizes, outShape: [...leading, ...outSizes] };
}

/** The in-bounds input positions a window reads, in scan order, as flat indices into its plane. */
function windowCells(out: readonly number[], layout: NaiveLayout, dims: NaiveDims): number[] {
  const cells: number[] = [];
  for (const tap of rowMajor(dims.kernel)) {
    const position = out.map((o, i) => o * dims.stride[i]! - dims.padding[i]! + tap[i]! * dims.dilation[i]!);
    if (position.every((x, i) => x >= 0 && x < layout.inSizes[i]!)) cells.push(flatten(position, layout.inSizes));
  }
  return cells;
}

export interface NaiveMaxResult {
  output: number[];
  /** null where a window reads no input at all (it lies entirely in the padding). */
  indices: (number | null)[];
}

/**
 * Max over the in-bounds cells (padding never wins); a strictly greater value or any NaN takes over,
 * so ties keep the first and the last NaN wins. A window of only -inf reports its first cell.
 */
export function naiveMaxPool(x: readonly number[], shape: readonly number[], dims: NaiveDims): NaiveMaxResult {
  const layout = naiveLayout(shape, dims);
  const planeSize = layout.inSizes.reduce((a, b) => a * b, 1);
  const output: number[] = [];
  const indices: (number | null)[] = [];
  for (let plane = 0; plane < layout.planes; plane++) {
    for (const out of rowMajor(layout.outSizes)) {
      let best = -Infinity;
      let index: number | null = null;
      for (const cell of windowCells(out, layout, dims)) {
        const value = x[plane * planeSize + cell]!;
        if (index === null) index = cell;
        if (value > best || Number.isNaN(value)) {
          best = value;
          index = cell;
        }
      }
      output.push(best);
      indices.push(index);
    }
  }
  return { output, indices };
}

/** grad_input[argmax] += grad_output, outputs in order. */
export function naiveMaxPoolBackward(
  gradOutput: readonly number[],
  indices: readonly (number | null)[],
  shape: readonly number[],
  dims: NaiveDims,
  round: Round,
): number[] {
  const layout = naiveLayout(shape, dims);
  const planeSize = layout.inSizes.reduce((a, b) => a * b, 1);
  const outPlaneSize = layout.outSizes.reduce((a, b) => a * b, 1);
  const grad = new Array<number>(layout.planes * planeSize).fill(0);
  for (let o = 0; o < gradOutput.length; o++) {
    const index = indices[o];
    if (index === null || index === undefined) continue;
    const at = Math.floor(o / outPlaneSize) * planeSize + index;
    grad[at] = round(grad[at]! + gradOutput[o]!);
  }
  return grad;
}

export interface NaiveAvgOptions {
  countIncludePad: boolean;
  divisorOverride: number | null;
}

/** The divisor of one window: the override, or its extent clipped at `in + p` (count_include_pad), or its in-bounds cells. */
function avgDivisor(out: readonly number[], cells: number, layout: NaiveLayout, dims: NaiveDims, options: NaiveAvgOptions): number {
  if (options.divisorOverride !== null) return options.divisorOverride;
  if (!options.countIncludePad) return cells;
  return out.reduce((size, o, i) => {
    const start = o * dims.stride[i]! - dims.padding[i]!;
    const end = Math.min(start + dims.kernel[i]!, layout.inSizes[i]! + dims.padding[i]!);
    return size * (end - start);
  }, 1);
}

export function naiveAvgPool(
  x: readonly number[],
  shape: readonly number[],
  dims: NaiveDims,
  options: NaiveAvgOptions,
  round: Round,
): number[] {
  const layout = naiveLayout(shape, dims);
  const planeSize = layout.inSizes.reduce((a, b) => a * b, 1);
  const output: number[] = [];
  for (let plane = 0; plane < layout.planes; plane++) {
    for (const out of rowMajor(layout.outSizes)) {
      const cells = windowCells(out, layout, dims);
      let sum = 0;
      for (const cell of cells) sum = round(sum + x[plane * planeSize + cell]!);
      output.push(round(sum / avgDivisor(out, cells.length, layout, dims, options)));
    }
  }
  return output;
}

export function naiveAvgPoolBackward(
  gradOutput: readonly number[],
  shape: readonly number[],
  dims: NaiveDims,
  options: NaiveAvgOptions,
  round: Round,
): number[] {
  const layout = naiveLayout(shape, dims);
  const planeSize = layout.inSizes.reduce((a, b) => a * b, 1);
  const grad = new Array<number>(layout.planes * planeSize).fill(0);
  let o = 0;
  for (let plane = 0; plane < layout.planes; plane++) {
    for (const out of rowMajor(layout.outSizes)) {
      const cells = windowCells(out, layout, dims);
      const delta = round(gradOutput[o++]! / avgDivisor(out, cells.length, layout, dims, options));
      for (const cell of cells) grad[plane * planeSize + cell] = round(grad[plane * planeSize + cell]! + delta);
    }
  }
  return grad;
}
