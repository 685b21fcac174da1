/**
 * Property tests run from a fixed seed, so a run on CI sees the cases the last local run saw and a
 * failure reproduces. FC_SEED=<integer> picks another seed; FC_SEED=random draws one per run (a
 * failure prints the seed and path that reproduce it).
 */
import fc from 'fast-check';

const DEFAULT_SEED = 20261128;

function seedFromEnvironment(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return DEFAULT_SEED;
  if (value === 'random') return undefined;
  const seed = Number(value);
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer or "random", not ${value}`);
  return seed;
}

const seed = seedFromEnvironment(process.env['FC_SEED']);
if (seed !== undefined) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
