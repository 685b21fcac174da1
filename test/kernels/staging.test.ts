/**
 * Staging addresses: inside the page of slack after the region's start, 16-byte aligned, and half a
 * page (modulo 4 KiB) from where the array's bytes sit when glibc maps its block on its own.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STAGING_SLACK, stagingAddress } from '../../src/kernels/wasm/staging.js';

describe('stagingAddress', () => {
  it('lies within the slack, aligned, half a page from the array bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 2 ** 28 }), (page, offset) => {
        const start = page * 4096;
        const at = stagingAddress(start, 4 * offset);
        expect(at).toBeGreaterThanOrEqual(start);
        expect(at + 16).toBeLessThanOrEqual(start + STAGING_SLACK);
        expect(at % 16).toBe(0);
        // The array's byte sits 16 bytes into a mapped page: the distance is 2048 up to the alignment.
        const distance = (((16 + 4 * offset - at) % 4096) + 4096) % 4096;
        expect(distance).toBeGreaterThanOrEqual(2048);
        expect(distance).toBeLessThan(2048 + 16);
      }),
    );
  });
});
