/**
 * A WebAssembly byte encoder for the kernels generated at run time (gemm's micro-kernel, the
 * pooling kernels): just the value types, instructions and module layout they use. No toolchain,
 * nothing fetched.
 */

// Value types.
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

export function unsignedLeb(value: number): number[] {
  const out: number[] = [];
  let n = value >>> 0;
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function signedLeb(value: number): number[] {
  const out: number[] = [];
  let n = value | 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

// Locals, constants and i32 arithmetic.
export const get = (i: number) => [0x20, ...unsignedLeb(i)];
export const set = (i: number) => [0x21, ...unsignedLeb(i)];
export const tee = (i: number) => [0x22, ...unsignedLeb(i)];
export const i32 = (v: number) => [0x41, ...signedLeb(v)];
export const add = [0x6a];
export const sub = [0x6b];
export const mul = [0x6c];
export const and = [0x71];
export const shl = [0x74];
export const shrU = [0x76];
export const ltS = [0x48];
export const gtS = [0x4a];
export const leS = [0x4c];
export const geS = [0x4e];
export const ltU = [0x49];
export const geU = [0x4f];

// Scalar float32 and memory.
export const i32Load = (offset: number) => [0x28, 2, ...unsignedLeb(offset)];
export const i32Store = (offset: number) => [0x36, 2, ...unsignedLeb(offset)];
export const f32Load = (offset: number) => [0x2a, 2, ...unsignedLeb(offset)];
export const f32Store = [0x38, 2, 0];
export const f32Add = [0x92];
export const f32Div = [0x95];
export const f32Zero = [0x43, 0, 0, 0, 0];
export const f32ConvertI32 = [0xb2];
export const memoryCopy = [0xfc, 0x0a, 0x00, 0x00];

// Control.
export const block = [0x02, 0x40];
export const loop = [0x03, 0x40];
export const ifThen = [0x04, 0x40];
export const end = [0x0b];
export const br = (depth: number) => [0x0c, ...unsignedLeb(depth)];
export const brIf = (depth: number) => [0x0d, ...unsignedLeb(depth)];

// Fixed-width SIMD. `alignLog2` is the memory operand's alignment hint (log2 of bytes).
export const simd = (op: number, ...immediates: number[]) => [0xfd, ...unsignedLeb(op), ...immediates];
export const v128Load = (offset: number, alignLog2 = 0) => simd(0x00, alignLog2, ...unsignedLeb(offset));
export const v128Store = (offset: number, alignLog2 = 0) => simd(0x0b, alignLog2, ...unsignedLeb(offset));
export const v128Load32Splat = (offset: number) => simd(0x09, 2, ...unsignedLeb(offset));
export const v128Load32Zero = (offset: number) => simd(0x5c, 0, ...unsignedLeb(offset));
export const v128Load32Lane = (offset: number, lane: number) => simd(0x56, 0, ...unsignedLeb(offset), lane);
export const v128Const = (lanes: readonly number[]) => simd(0x0c, ...lanes.flatMap((l) => [l & 0xff, (l >> 8) & 0xff, (l >> 16) & 0xff, (l >>> 24) & 0xff]));
export const v128Zero = v128Const([0, 0, 0, 0]);
export const i32x4Splat = simd(0x11);
export const f32x4Splat = simd(0x13);
export const f32x4ExtractLane = (lane: number) => simd(0x1f, lane);
export const f32x4Ne = simd(0x42);
export const f32x4Lt = simd(0x43);
export const f32x4Gt = simd(0x44);
export const f32x4Le = simd(0x45);
export const v128Or = simd(0x50);
export const v128Bitselect = simd(0x52);
export const i32x4Add = simd(0xae);
export const i32x4Mul = simd(0xb5);
export const f32x4Add = simd(0xe4);
export const f32x4Mul = simd(0xe6);
export const f32x4Div = simd(0xe7);

/** A function body under construction: numbered parameters, then locals declared on the way. */
export class Body {
  readonly code: number[] = [];
  private readonly locals: number[] = [];

  constructor(private readonly paramCount: number) {}

  local(type: number): number {
    this.locals.push(type);
    return this.paramCount + this.locals.length - 1;
  }

  emit(...parts: number[][]): void {
    for (const p of parts) this.code.push(...p);
  }

  /** `for (; i < limit; i++) body()` where i and limit are locals. */
  forLess(i: number, limit: number, body: () => void): void {
    this.emit(block, loop, get(i), get(limit), geS, brIf(1));
    body();
    this.emit(get(i), i32(1), add, set(i), br(0), end, end);
  }

  bytes(): number[] {
    const groups: number[] = [];
    for (const type of this.locals) groups.push(1, type);
    return [...unsignedLeb(this.locals.length), ...groups, ...this.code, ...end];
  }
}

export const i32s = (n: number) => new Array<number>(n).fill(I32);

const section = (id: number, bytes: number[]): number[] => [id, ...unsignedLeb(bytes.length), ...bytes];
const name = (s: string): number[] => [...unsignedLeb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const funcType = (params: number[]): number[] => [0x60, ...unsignedLeb(params.length), ...params, 0];

/**
 * A module importing `env.memory` (at least one page) and exporting one function, `kernel`, of
 * these parameter types and no result. `body` is the encoded function body (locals, code, end).
 */
export function moduleBytes(params: number[], body: number[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, ...funcType(params)]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 1]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('kernel'), 0x00, 0]),
    ...section(10, [1, ...unsignedLeb(body.length), ...body]),
  ]);
}

/**
 * The `kernel` export of the module of these parameter types and body (see moduleBytes), over
 * `memory`; null where the runtime does not validate it (no SIMD, say).
 */
export function instantiateKernel<F>(wasm: typeof WebAssembly, params: number[], body: number[], memory: WebAssembly.Memory): F | null {
  const code = moduleBytes(params, body);
  if (!wasm.validate(code)) return null;
  return new wasm.Instance(new wasm.Module(code), { env: { memory } }).exports['kernel'] as F;
}

/**
 * The buffer of `memory`, grown first to at least `bytes` bytes if it is smaller. A grow detaches
 * every view of the old buffer: a caller keeping views makes new ones when the buffer changes.
 */
export function bufferOf(memory: WebAssembly.Memory, bytes: number): ArrayBuffer {
  const missing = bytes - memory.buffer.byteLength;
  if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  return memory.buffer;
}

/** The runtime's WebAssembly, or undefined where there is none. */
export const webAssembly = (): typeof WebAssembly | undefined => (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;

/**
 * A getter that builds with `build` on first use and keeps the result: null for good where there
 * is no WebAssembly, `build` gives null (a kernel did not validate) or it throws.
 */
export function lazyModule<M>(build: (wasm: typeof WebAssembly) => M | null): () => M | null {
  let built: M | null | undefined;
  return () => {
    if (built !== undefined) return built;
    built = null;
    try {
      const wasm = webAssembly();
      if (wasm) built = build(wasm);
    } catch {
      built = null;
    }
    return built;
  };
}
