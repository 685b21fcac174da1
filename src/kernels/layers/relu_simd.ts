/**
 * float32 relu and its backward as WebAssembly SIMD kernels, generated here as bytes. A JavaScript
 * loop over a Float32Array costs about 3 ns a value on the machines measured (each value goes
 * through a double); here four values take a compare and a select, and the values come and go in
 * blocks copied into and out of the module's memory.
 *
 * - relu: where `x < 0` (false for -0 and NaN) +0, else x unchanged: clamp_min(x, 0) bit for bit.
 * - reluBackward: where `x <= 0` (false for NaN) +0, else the gradient unchanged.
 */
import { Body, f32x4Le, f32x4Lt, get, i32, I32, i32s, add, instantiateKernel, set, shl, v128Bitselect, v128Load, v128Store, v128Zero, lazyModule } from '../wasm/encoder.js';
import { STAGING_SLACK, stagingAddress } from '../wasm/staging.js';

/** Floats a block: three blocks (two inputs, one output) stay within a typical L2 cache. */
const BLOCK = 16384;

/**
 * kernel(x, g, out, vectors): for each of `vectors` groups of four floats, out = select(mask, +0,
 * value), mask from x and value x (relu) or g (backward). Byte addresses.
 */
function selectBody(backward: boolean): number[] {
  const [x, g, out, vectors] = [0, 1, 2, 3];
  const b = new Body(4);
  const v = b.local(I32);
  const at = b.local(I32);
  b.emit(i32(0), set(v));
  b.forLess(v, vectors, () => {
    b.emit(get(v), i32(4), shl, set(at));
    b.emit(get(out), get(at), add);
    // bitselect(a, b, mask) takes a's bits where the mask is set: +0 there, the value elsewhere.
    b.emit(v128Zero);
    b.emit(get(backward ? g : x), get(at), add, v128Load(0));
    b.emit(get(x), get(at), add, v128Load(0), v128Zero, backward ? f32x4Le : f32x4Lt);
    b.emit(v128Bitselect, v128Store(0));
  });
  return b.bytes();
}

type Kernel = (x: number, g: number, out: number, vectors: number) => void;

interface Module {
  readonly relu: Kernel;
  readonly backward: Kernel;
  readonly floats: Float32Array;
}

// Byte addresses: the two inputs, then the output's region, a page longer than a block so that
// each block is staged where copying it out is not 4 KiB-aliased (staging.ts).
const X = 0;
const G = 4 * BLOCK;
const OUT = 8 * BLOCK;

const load = lazyModule<Module>((wasm) => {
  const memory = new wasm.Memory({ initial: Math.ceil((OUT + 4 * BLOCK + STAGING_SLACK) / 65536) });
  const relu = instantiateKernel<Kernel>(wasm, i32s(4), selectBody(false), memory);
  const backward = instantiateKernel<Kernel>(wasm, i32s(4), selectBody(true), memory);
  return relu && backward && { relu, backward, floats: new Float32Array(memory.buffer) };
});

/** Runs `pick` of the module over x (and grad) block by block into out; false where there is no module. */
function inBlocks(pick: (m: Module) => Kernel, x: Float32Array, grad: Float32Array | null, out: Float32Array): boolean {
  const m = load();
  if (!m) return false;
  const kernel = pick(m);
  const f = m.floats;
  for (let i = 0; i < x.length; i += BLOCK) {
    const count = Math.min(BLOCK, x.length - i);
    const to = stagingAddress(OUT, out.byteOffset + 4 * i);
    f.set(x.subarray(i, i + count), X / 4);
    if (grad) f.set(grad.subarray(i, i + count), G / 4);
    kernel(X, G, to, Math.ceil(count / 4));
    out.set(f.subarray(to / 4, to / 4 + count), i);
  }
  return true;
}

/** out = relu(x); false, with nothing written, where there is no WebAssembly SIMD. */
export function reluFloat32(x: Float32Array, out: Float32Array): boolean {
  return inBlocks((m) => m.relu, x, null, out);
}

/** out = grad where x <= 0 is false, else +0; false, with nothing written, where there is no WebAssembly SIMD. */
export function reluBackwardFloat32(x: Float32Array, grad: Float32Array, out: Float32Array): boolean {
  return inBlocks((m) => m.backward, x, grad, out);
}
