/**
 * max pooling's backward for float32 as a WebAssembly kernel, generated here as bytes:
 * grad_input[plane][indices[o]] += grad_output[o], outputs in row-major order, an index outside
 * the plane dropped (see maxPoolBackwardLoop in max_pool.ts, which this replaces for float32).
 *
 * The same scalar adds in the same order as the JavaScript loop, so the same bits; but a
 * JavaScript read-add-write of a Float32Array element goes through doubles and reloads the
 * array's fields each time, about 4 ns an output here, against about 1.4 ns in the module. Planes
 * go through the module a block at a time: the block's indices and gradients are copied in, its
 * planes of grad_input cleared and scattered into while they are in cache, then copied out whole.
 */
import { add, Body, bufferOf, end, f32Add, f32Load, f32Store, get, I32, i32, i32Load, i32s, ifThen, instantiateKernel, lazyModule, ltU, mul, set, shl, tee } from '../wasm/encoder.js';
import { pages, STAGING_SLACK, stagingAddress } from '../wasm/staging.js';

/**
 * kernel(dst, indices, src, planes, planeSize, outPlane), byte addresses: for each of `planes`
 * planes, dst[indices[o]] += src[o] over its `outPlane` outputs where indices[o] < planeSize
 * (unsigned, so negative indices fail too); dst moves on by a plane, indices and src by outPlane.
 */
function scatterBody(): number[] {
  const [dst, indices, src, planes, planeSize, outPlane] = [0, 1, 2, 3, 4, 5];
  const b = new Body(6);
  const plane = b.local(I32);
  const o = b.local(I32);
  const index = b.local(I32);
  const tap = b.local(I32);
  const planeBytes = b.local(I32);
  b.emit(get(planeSize), i32(4), mul, set(planeBytes), i32(0), set(plane));
  b.forLess(plane, planes, () => {
    b.emit(i32(0), set(o));
    b.forLess(o, outPlane, () => {
      b.emit(get(indices), i32Load(0), tee(index), get(planeSize), ltU, ifThen);
      b.emit(get(dst), get(index), i32(2), shl, add, tee(tap), get(tap), f32Load(0), get(src), f32Load(0), f32Add, f32Store, end);
      b.emit(get(indices), i32(4), add, set(indices), get(src), i32(4), add, set(src));
    });
    b.emit(get(dst), get(planeBytes), add, set(dst));
  });
  return b.bytes();
}

type Kernel = (dst: number, indices: number, src: number, planes: number, planeSize: number, outPlane: number) => void;

interface Module {
  readonly scatter: Kernel;
  readonly memory: WebAssembly.Memory;
}

const load = lazyModule<Module>((wasm) => {
  const memory = new wasm.Memory({ initial: 1 });
  const scatter = instantiateKernel<Kernel>(wasm, i32s(6), scatterBody(), memory);
  return scatter && { scatter, memory };
});

/** A block's staged tensors stay within a typical L2 cache. */
const BLOCK_BYTES = 256 * 1024;

/** The memory grows to hold a block and never shrinks: larger planes stay with the JavaScript loop. */
const MAX_BLOCK_BYTES = 32 * 1024 * 1024;

/**
 * grad_input[plane][indices] += grad_output for float32 into `gradInput`, whose planes of
 * `planeSize` it writes whole (gradOutput and indices hold the same number of outputs for every
 * plane). False, with nothing written, where there is no module or a plane is too large for it.
 */
export function maxPoolBackwardFloat32(gradOutput: Float32Array, indices: Int32Array, planeSize: number, gradInput: Float32Array): boolean {
  const planes = planeSize > 0 ? gradInput.length / planeSize : 0;
  if (planes === 0) return true;
  const outPlane = gradOutput.length / planes;
  const planeBytes = 4 * (planeSize + 2 * outPlane);
  const m = planeBytes <= MAX_BLOCK_BYTES ? load() : null;
  if (!m) return false;
  const per = Math.max(1, Math.floor(BLOCK_BYTES / planeBytes));
  // Three regions, each a page longer than its block: a block's address moves within that page.
  const gradRegion = 0;
  const indexRegion = gradRegion + pages(4 * per * planeSize) + STAGING_SLACK;
  const sourceRegion = indexRegion + pages(4 * per * outPlane) + STAGING_SLACK;
  const bytes = sourceRegion + pages(4 * per * outPlane) + STAGING_SLACK;
  const buffer = bufferOf(m.memory, bytes);
  const floats = new Float32Array(buffer);
  const words = new Int32Array(buffer);
  for (let first = 0; first < planes; first += per) {
    const count = Math.min(per, planes - first);
    const o = first * outPlane;
    const outputs = count * outPlane;
    const grads = stagingAddress(gradRegion, gradInput.byteOffset + 4 * first * planeSize);
    const at = stagingAddress(indexRegion, indices.byteOffset + 4 * o);
    const src = stagingAddress(sourceRegion, gradOutput.byteOffset + 4 * o);
    words.set(indices.subarray(o, o + outputs), at / 4);
    floats.set(gradOutput.subarray(o, o + outputs), src / 4);
    floats.fill(0, grads / 4, grads / 4 + count * planeSize);
    m.scatter(grads, at, src, count, planeSize, outPlane);
    gradInput.set(floats.subarray(grads / 4, grads / 4 + count * planeSize), first * planeSize);
  }
  return true;
}
