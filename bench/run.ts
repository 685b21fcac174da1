/**
 * `npm run bench` — times the kernels single-threaded on float32 NCHW workloads.
 *
 *   npm run bench                        table on stdout
 *   npm run -s bench -- --json           one JSON line per workload on stdout (machine line on stderr)
 *   npm run bench -- --only A1,A3-bwd    just those ids; `A1` also selects `A1-bwd`, `A` every A workload
 *   npm run bench -- --markdown          the README's tables, one per measure
 *   npm run bench -- --list              the ids, without running anything
 *   npm run bench -- --rounds 5          every workload 5 times over, round by round: the median
 *                                        round and the range of the rounds' medians
 *
 * Pooling workloads live in bench/pooling.ts; bench/layers.ts (`layerWorkloads`) and
 * bench/training.ts (`trainingWorkloads`) are picked up when they exist.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { combineRounds, describeMachine, formatMarkdown, formatTable, measure, type BenchRecord, type Reference, type Workload } from './harness.js';
import { poolingWorkloads } from './pooling.js';

export type { BenchRecord, Prepared, Reference, Workload } from './harness.js';

/** Loads `exportName` from an optional sibling module; absent files are simply not benchmarked yet. */
async function optionalWorkloads(file: string, exportName: string): Promise<Workload[]> {
  const present = ['.ts', '.js'].some((ext) => existsSync(new URL(`./${file}${ext}`, import.meta.url)));
  if (!present) return [];
  const specifier = `./${file}.js`;
  try {
    const workloads = ((await import(specifier)) as Record<string, unknown>)[exportName];
    if (!Array.isArray(workloads)) throw new Error(`it does not export an array named ${exportName}`);
    return workloads.filter((w): w is Workload => {
      const ok = typeof w?.id === 'string' && typeof w?.name === 'string' && typeof w?.prepare === 'function';
      if (!ok) console.error(`bench/${file}.ts: skipping an entry without id, name and prepare()`);
      return ok;
    });
  } catch (error) {
    console.error(`bench/${file}.ts could not be loaded: ${(error as Error).message}`);
    return [];
  }
}

function selected(id: string, filters: readonly string[]): boolean {
  if (filters.length === 0) return true;
  return filters.some((f) => id === f || id.startsWith(`${f}-`) || (/^[A-Za-z]$/.test(f) && id[0] === f));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      only: { type: 'string', default: '' },
      markdown: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '1' },
    },
  });
  const filters = values.only.split(',').map((f) => f.trim().toUpperCase()).filter(Boolean);
  const all = [
    ...poolingWorkloads,
    ...(await optionalWorkloads('layers', 'layerWorkloads')),
    ...(await optionalWorkloads('training', 'trainingWorkloads')),
  ];
  const workloads = all.filter((w) => selected(w.id.toUpperCase(), filters));

  if (values.list) {
    for (const w of all) console.log(`${w.id}\t${w.name}`);
    return 0;
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error(`--rounds takes a whole number of at least 1, not ${values.rounds}`);
    return 1;
  }
  if (workloads.length === 0) {
    console.error(`no workload matches --only ${values.only}; ids: ${all.map((w) => w.id).join(', ')}`);
    return 1;
  }

  // In --json mode stdout carries only workload lines, so the machine goes to stderr.
  const header = `convpool bench: ${describeMachine()}; float32 NCHW, 1 thread, median of >= 7 samples after warm-up (fast calls timed in blocks of back-to-back calls)`;
  if (values.json) console.error(header);
  else console.log(header);

  const measured = new Map<Workload, BenchRecord[]>();
  let failed = 0;
  for (let round = 1; round <= rounds; round++) {
    for (const workload of workloads) {
      try {
        const record = await measure(workload);
        measured.set(workload, [...(measured.get(workload) ?? []), record]);
        const of = rounds > 1 ? ` (round ${round} of ${rounds})` : '';
        if (!values.json || rounds > 1) console.error(`${record.id} ${record.name}: ${record.median_ms} ms (${record.runs} runs)${of}`);
      } catch (error) {
        failed++;
        console.error(`${workload.id} ${workload.name} not measured: ${(error as Error).message}`);
      }
    }
  }
  const rows: { record: BenchRecord; reference?: Reference }[] = [];
  for (const [workload, records] of measured) {
    const record = combineRounds(records);
    rows.push({ record, reference: workload.reference });
    if (values.json) console.log(JSON.stringify(record));
  }
  if (!values.json && rows.length > 0) console.log(`\n${values.markdown ? formatMarkdown(rows) : formatTable(rows)}`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
