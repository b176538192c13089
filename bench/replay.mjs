#!/usr/bin/env node
// `npm run bench -- replay`: runs every section in bench/replay/*.mjs (each exports
// `measure()` resolving to an object of named results) and writes them together, with the load
// average, to bench/results/replay.json. Sections: recovery (recovery_ms, lost_records,
// duplicated_records after a runner's kill -9), redis-source (redis_source_vs_in_process),
// replay-on-vs-off (replay_on_vs_off), retained-memory (replay_retained_bytes_per_record).
// Every measured run is a fresh process (bench/replay/programs/ holds the job and its runner).
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sections = readdirSync(join(here, 'replay'))
  .filter((file) => file.endsWith('.mjs'))
  .sort();
const results = { loadAverageBefore: loadavg(), cpus: availableParallelism() };
for (const file of sections) {
  console.log(`replay: section ${file}`);
  const { measure } = await import(pathToFileURL(join(here, 'replay', file)).href);
  Object.assign(results, await measure());
}
results.loadAverageAfter = loadavg();
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'replay.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
