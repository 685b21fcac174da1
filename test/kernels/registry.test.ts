import { describe, expect, it } from 'vitest';
import { ops } from '../../src/kernels/registry.js';

describe('kernel registry', () => {
  it('indexes every op under a unique name', () => {
    for (const [name, op] of ops) expect(op.name).toBe(name);
  });
});
