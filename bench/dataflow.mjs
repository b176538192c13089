#!/usr/bin/env node
// Records/s through source → map → keyBy → map → sink in @millrace/dataflow, side by side with a
// plain for-loop doing the same work in one function (the ceiling). 100-byte records (CSV-like
// lines). Variants: parallelism 1 in-process, parallelism 2 in-process, parallelism 2 on worker
// threads. Writes bench/results/dataflow.json. Needs `npx tsup` in packages/dataflow first.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { functionReference, Job } from '../packages/dataflow/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const recordCount = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const repetitions = Number(process.env.BENCH_REPETITIONS ?? 3);

// The work, shared verbatim by the loop, the in-process pipeline and (as module source) the workers.
const functionsSource = `
export function parse(line) {
  const first = line.indexOf(',');
  const second = line.indexOf(',', first + 1);
  return { user: line.slice(0, first), value: Number(line.slice(first + 1, second)), line };
}
export function enrich(record) {
  return { user: record.user, score: record.value * 2 + record.line.length };
}
// CPU-heavy variant (~tens of µs a record): where worker threads are meant to pay off.
export function enrichHeavy(record) {
  let x = record.value;
  for (let i = 0; i < 1000; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return { user: record.user, score: record.value * 2 + record.line.length + (x % 2) };
}
`;
const functionsUrl = `data:text/javascript,${encodeURIComponent(functionsSource)}`;
const { parse, enrich, enrichHeavy } = await import(functionsUrl);

function makeRecords(count) {
  const padding = 'x'.repeat(100);
  const records = new Array(count);
  for (let i = 0; i < count; i++) {
    const head = `user${i % 1000},${i % 977},`;
    records[i] = head + padding.slice(0, 100 - head.length);
  }
  return records;
}

const records = makeRecords(recordCount);
const heavyCount = Math.min(recordCount, Number(process.env.BENCH_HEAVY_RECORDS ?? 50_000));
if (records[0].length !== 100) throw new Error('records must be 100 bytes');

function loop(heavy = false) {
  const enrichFn = heavy ? enrichHeavy : enrich;
  const count = heavy ? heavyCount : records.length;
  let sum = 0;
  let seen = 0;
  for (let i = 0; i < count; i++) {
    const parsed = parse(records[i]);
    const key = parsed.user; // keyBy: the loop only needs the key, there is nowhere to send it
    const enriched = enrichFn(parsed);
    if (key !== enriched.user) throw new Error('unreachable');
    sum += enriched.score;
    seen += 1;
  }
  return { sum, count: seen };
}

async function pipeline({ parallelism, thread, heavy = false }) {
  const job = new Job({ name: 'bench' });
  let sum = 0;
  let count = 0;
  const parseFn = thread === 'worker' ? functionReference(functionsUrl, 'parse') : parse;
  const enrichName = heavy ? 'enrichHeavy' : 'enrich';
  const enrichFn =
    thread === 'worker' ? functionReference(functionsUrl, enrichName) : heavy ? enrichHeavy : enrich;
  job
    .fromIterable(heavy ? records.slice(0, heavyCount) : records)
    .map(parseFn, { parallelism, thread, name: 'parse' })
    .keyBy((record) => record.user)
    .map(enrichFn, { parallelism, thread, name: 'enrich' })
    .forEach(
      (record) => {
        sum += record.score;
        count += 1;
      },
      { parallelism: 1, name: 'sink' },
    );
  await job.execute();
  return { sum, count };
}

async function measure(name, run, expected = recordCount) {
  let best = Number.POSITIVE_INFINITY;
  let checksum;
  for (let r = 0; r < repetitions; r++) {
    const started = performance.now();
    const result = await run();
    const seconds = (performance.now() - started) / 1000;
    if (result.count !== expected) throw new Error(`${name}: ${result.count} records, expected ${expected}`);
    if (checksum !== undefined && checksum !== result.sum) throw new Error(`${name}: checksum changed`);
    checksum = result.sum;
    best = Math.min(best, seconds);
  }
  const perSecond = expected / best;
  console.log(`${name.padEnd(28)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} records/s`);
  return { perSecond, checksum };
}

console.log(
  `dataflow bench: ${recordCount.toLocaleString('en-US')} records of 100 bytes, best of ${repetitions}`,
);
const ceiling = await measure('plain for-loop (ceiling)', async () => loop());
const p1 = await measure('pipeline p=1 in-process', () => pipeline({ parallelism: 1, thread: 'main' }));
const p2 = await measure('pipeline p=2 in-process', () => pipeline({ parallelism: 2, thread: 'main' }));
const w2 = await measure('pipeline p=2 worker threads', () => pipeline({ parallelism: 2, thread: 'worker' }));
for (const variant of [p1, p2, w2]) {
  if (variant.checksum !== ceiling.checksum)
    throw new Error('a pipeline computed a different result than the loop');
}
console.log(`CPU-heavy enrich (${heavyCount.toLocaleString('en-US')} records):`);
const heavyLoop = await measure('plain for-loop, heavy', async () => loop(true), heavyCount);
const heavyP1 = await measure(
  'pipeline p=1 in-process, heavy',
  () => pipeline({ parallelism: 1, thread: 'main', heavy: true }),
  heavyCount,
);
const heavyW2 = await measure(
  'pipeline p=2 workers, heavy',
  () => pipeline({ parallelism: 2, thread: 'worker', heavy: true }),
  heavyCount,
);
for (const variant of [heavyP1, heavyW2]) {
  if (variant.checksum !== heavyLoop.checksum)
    throw new Error('a heavy pipeline computed a different result than the loop');
}

const round = (x) => Math.round(x * 1000) / 1000;
const result = {
  benchmark: 'dataflow',
  records: recordCount,
  record_bytes: 100,
  repetitions,
  loop_records_per_second: Math.round(ceiling.perSecond),
  pipeline_p1_records_per_second: Math.round(p1.perSecond),
  pipeline_p2_records_per_second: Math.round(p2.perSecond),
  pipeline_p2_worker_records_per_second: Math.round(w2.perSecond),
  pipeline_vs_loop_ratio: round(p1.perSecond / ceiling.perSecond),
  pipeline_p2_vs_loop_ratio: round(p2.perSecond / ceiling.perSecond),
  pipeline_p2_worker_vs_loop_ratio: round(w2.perSecond / ceiling.perSecond),
  target_pipeline_vs_loop_ratio: 0.3,
  heavy_records: heavyCount,
  heavy_loop_records_per_second: Math.round(heavyLoop.perSecond),
  heavy_pipeline_p1_records_per_second: Math.round(heavyP1.perSecond),
  heavy_pipeline_p2_worker_records_per_second: Math.round(heavyW2.perSecond),
  heavy_pipeline_p2_worker_vs_loop_ratio: round(heavyW2.perSecond / heavyLoop.perSecond),
  cpus: (await import('node:os')).availableParallelism(),
  // Other work on the machine skews absolute numbers (and worker-thread speedups) more than ratios.
  load_average_1m: Math.round((await import('node:os')).loadavg()[0] * 100) / 100,
  node: process.version,
  measured_at: new Date().toISOString(),
};
console.log(
  `ratios vs loop: p=1 ${result.pipeline_vs_loop_ratio}, p=2 ${result.pipeline_p2_vs_loop_ratio}, p=2 workers ${result.pipeline_p2_worker_vs_loop_ratio} (target p=1 ≥ 0.3); heavy work: p=2 workers ${result.heavy_pipeline_p2_worker_vs_loop_ratio}× the loop`,
);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'dataflow.json'), `${JSON.stringify(result, null, 2)}\n`);
