import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('property test seed', () => {
  it('is fixed unless FC_SEED asks for another or for a random one', () => {
    const requested = process.env['FC_SEED'];
    const { seed } = fc.readConfigureGlobal();
    if (requested === 'random') expect(seed).toBeUndefined();
    else expect(seed).toBe(requested ? Number(requested) : 20261128);
  });
});
