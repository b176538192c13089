#!/usr/bin/env node
// `npm run bench -- NAME [NAME...]` runs bench/NAME.mjs; with no name, every benchmark in turn.
// Each benchmark measures side by side in one run, prints its ratios and writes
// bench/results/NAME.json; `../shared/check/bench-targets` compares those files with the targets.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((file) => file.endsWith('.mjs') && file !== 'run.mjs')
  .map((file) => file.slice(0, -'.mjs'.length))
  .sort();
const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length) {
  console.error(`bench: no benchmark named ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
let failures = 0;
for (const name of requested.length ? requested : available) {
  console.log(`\n=== bench ${name}`);
  const result = spawnSync(process.execPath, [join(here, `${name}.mjs`)], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`bench ${name} exited with ${result.status ?? result.signal}`);
    failures += 1;
  }
}
process.exit(failures ? 1 : 0);
