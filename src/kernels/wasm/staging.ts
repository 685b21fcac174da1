/**
 * Where to put a block in a module's memory that is copied to or from a typed array, so that the
 * copy is not 4 KiB-aliased.
 *
 * Typed-array copies are memcpy, which on x86 (rep movsb) runs several times slower when the
 * destination sits a few bytes past the source modulo 4 KiB: each store then looks, to the
 * processor, like it might feed a load just behind it. A block at a page-aligned module address
 * copied out to a large typed array is exactly that case, because glibc places a block it maps on
 * its own 16 bytes into its first page: 64 MB copied out in 256 KB blocks took 26–39 ms that way
 * and 8–10 ms from half a page away. Staging half a page from the array's bytes keeps nearby
 * placements clear too; for an array placed anywhere else the distance is as good as random.
 */

/** Where glibc puts the bytes of a block it maps on its own (its chunk header comes first). */
const MAPPED_BYTES_OFFSET = 16;
const PAGE = 4096;

/** The room a staged block needs beyond its own bytes: the address moves within one page. */
export const STAGING_SLACK = PAGE;

/**
 * A 16-byte aligned module address in [regionStart, regionStart + STAGING_SLACK) half a page away,
 * modulo 4 KiB, from the array bytes the block is copied to or from. `regionStart` is a multiple
 * of 4 KiB (the module's memory starts page-aligned); `arrayByteOffset` is the byte offset of the
 * copy within the array's buffer.
 */
export function stagingAddress(regionStart: number, arrayByteOffset: number): number {
  return regionStart + ((arrayByteOffset + MAPPED_BYTES_OFFSET + PAGE / 2) & (PAGE - 16));
}

/** `bytes` rounded up to whole pages. */
export const pages = (bytes: number): number => Math.ceil(bytes / PAGE) * PAGE;
