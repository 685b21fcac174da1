/**
 * The float32 micro-kernels of `gemm` as a small WebAssembly SIMD module, generated here as bytes
 * (no toolchain, nothing fetched). One exported function computes a whole packed block:
 *
 *   kernel(mc, nc, kc, aPtr, bPtr, cPtr):  Cblk[mc x nc] = Apacked[mc x kc] · Bpacked[kc x nc]
 *
 * with A packed in 4-row panels and B in 8-column panels, both k-major (see gemm.ts), mc a
 * multiple of 4, nc a multiple of 8, and Cblk row-major with row length nc. Each 4x8 tile lives in
 * eight f32x4 accumulators for the whole k loop; products are summed in float32 in k order.
 */

export const SIMD_MR = 4;
export const SIMD_NR = 8;

export interface SimdKernel {
  /** Byte offsets are into `memory`. */
  kernel(mc: number, nc: number, kc: number, aPtr: number, bPtr: number, cPtr: number): void;
  readonly memory: WebAssembly.Memory;
}

const unsignedLeb = (value: number): number[] => {
  const out: number[] = [];
  let n = value >>> 0;
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
};

const signedLeb = (value: number): number[] => {
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
};

const section = (id: number, bytes: number[]): number[] => [id, ...unsignedLeb(bytes.length), ...bytes];
const name = (s: string): number[] => [...unsignedLeb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// Instruction encodings (WebAssembly core + fixed-width SIMD).
const I32 = 0x7f;
const V128 = 0x7b;
const get = (i: number) => [0x20, ...unsignedLeb(i)];
const set = (i: number) => [0x21, ...unsignedLeb(i)];
const tee = (i: number) => [0x22, ...unsignedLeb(i)];
const i32 = (v: number) => [0x41, ...signedLeb(v)];
const add = [0x6a];
const sub = [0x6b];
const mul = [0x6c];
const shl = [0x74];
const geU = [0x4f];
const simd = (op: number, ...immediates: number[]) => [0xfd, ...unsignedLeb(op), ...immediates];
const v128Load = (offset: number) => simd(0x00, 4, ...unsignedLeb(offset));
const v128Load32Splat = (offset: number) => simd(0x09, 2, ...unsignedLeb(offset));
const v128Store = (offset: number) => simd(0x0b, 4, ...unsignedLeb(offset));
const v128Zero = simd(0x0c, ...new Array<number>(16).fill(0));
const f32x4Add = simd(0xe4);
const f32x4Mul = simd(0xe6);
const block = [0x02, 0x40];
const loop = [0x03, 0x40];
const end = [0x0b];
const br = (depth: number) => [0x0c, ...unsignedLeb(depth)];
const brIf = (depth: number) => [0x0d, ...unsignedLeb(depth)];

function kernelBody(): number[] {
  // Parameters 0-5, then i32 locals 6-11, then v128 locals 12-22.
  const [mc, nc, kc, aPtr, bPtr, cPtr, jr, ir, k, a, b, c] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const acc = (i: number) => 12 + i;
  const [b0, b1, av] = [20, 21, 22];
  const code: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) code.push(...p);
  };
  emit(i32(0), set(jr));
  emit(block, loop); // over 8-column panels
  emit(get(jr), get(nc), geU, brIf(1));
  emit(i32(0), set(ir));
  emit(block, loop); // over 4-row panels
  emit(get(ir), get(mc), geU, brIf(1));
  for (let t = 0; t < 8; t++) emit(v128Zero, set(acc(t)));
  emit(get(aPtr), get(ir), get(kc), mul, i32(2), shl, add, set(a)); // panel ir/4 starts at ir*kc floats
  emit(get(bPtr), get(jr), get(kc), mul, i32(2), shl, add, set(b));
  emit(get(kc), set(k));
  emit(loop); // over k: one 8-wide row of B, four splatted values of A
  emit(get(b), v128Load(0), set(b0));
  emit(get(b), v128Load(16), set(b1));
  for (let r = 0; r < 4; r++) {
    emit(get(a), v128Load32Splat(4 * r), set(av));
    emit(get(acc(2 * r)), get(av), get(b0), f32x4Mul, f32x4Add, set(acc(2 * r)));
    emit(get(acc(2 * r + 1)), get(av), get(b1), f32x4Mul, f32x4Add, set(acc(2 * r + 1)));
  }
  emit(get(a), i32(16), add, set(a));
  emit(get(b), i32(32), add, set(b));
  emit(get(k), i32(1), sub, tee(k), brIf(0));
  emit(end);
  emit(get(cPtr), get(ir), get(nc), mul, get(jr), add, i32(2), shl, add, set(c));
  for (let r = 0; r < 4; r++) {
    emit(get(c), get(acc(2 * r)), v128Store(0));
    emit(get(c), get(acc(2 * r + 1)), v128Store(16));
    if (r < 3) emit(get(c), get(nc), i32(2), shl, add, set(c));
  }
  emit(get(ir), i32(4), add, set(ir), br(0));
  emit(end, end);
  emit(get(jr), i32(8), add, set(jr), br(0));
  emit(end, end);
  emit(end);
  const locals = [2, ...unsignedLeb(6), I32, ...unsignedLeb(11), V128];
  return [...locals, ...code];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const body = kernelBody();
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 6, I32, I32, I32, I32, I32, I32, 0]), // type: (i32 x 6) -> ()
    ...section(2, [1, ...name('env'), ...name('mem'), 0x02, 0x00, 1]), // import memory, min 1 page
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('kernel'), 0x00, 0]),
    ...section(10, [1, ...unsignedLeb(body.length), ...body]),
  ]);
}

/**
 * Instantiates the kernel over a fresh memory of `bytes` bytes, or returns null where WebAssembly
 * SIMD is unavailable (the scalar gemm then does all the work).
 */
export function createSimdKernel(bytes: number): SimdKernel | null {
  try {
    const wasm = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
    if (!wasm) return null;
    const code = moduleBytes();
    if (!wasm.validate(code)) return null;
    const memory = new wasm.Memory({ initial: Math.ceil(bytes / 65536) });
    const instance = new wasm.Instance(new wasm.Module(code), { env: { mem: memory } });
    const kernel = instance.exports.kernel as SimdKernel['kernel'];
    return { kernel, memory };
  } catch {
    return null;
  }
}
