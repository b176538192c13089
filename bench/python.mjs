#!/usr/bin/env node
// Python bridge benchmark:
//  (a) start-up: the time from pythonRunner's start() to the first record consumed by Python,
//      for an entry that imports nothing heavy, against a plain `python3 -c` start. Each sample is
//      a fresh Node process (bench/python/first-record.mjs) timing both, in alternating order; the
//      overhead of a sample is its Millrace time minus its own plain-start time, and
//      first_record_overhead_ms is the median of those paired differences over `runs` samples
//      (the distribution is recorded), never a difference of two separately noisy medians;
//  (b) a Pyodide UDF (warm pool, batches of 4096) against the same function in JavaScript, in
//      records/s.
// Writes bench/results/python.json, with the machine load before each sample.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closePyodideWorkers, python } from '../bridges/python/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const interpreter = process.env.MILLRACE_BENCH_PYTHON ?? '/usr/bin/python3';
const runs = Math.max(15, Number(process.env.MILLRACE_BENCH_RUNS ?? 21));

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const round = (value, digits = 1) => Number(value.toFixed(digits));

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
};
const distribution = (values) => ({
  min: round(Math.min(...values)),
  p25: round(quantile(values, 0.25)),
  median: round(median(values)),
  p75: round(quantile(values, 0.75)),
  max: round(Math.max(...values)),
});

function measureStartup() {
  const samples = [];
  // One untimed sample first: fills the page cache.
  for (let run = -1; run < runs; run++) {
    const load1 = loadavg()[0];
    const child = spawnSync(
      process.execPath,
      [join(here, 'python', 'first-record.mjs'), run % 2 ? 'millrace-first' : 'plain-first'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 120_000 },
    );
    if (child.status !== 0)
      throw new Error(`bench/python/first-record.mjs exited ${child.status ?? child.signal}`);
    const sample = JSON.parse(child.stdout.trim().split('\n').at(-1));
    if (run >= 0) samples.push({ ...sample, load1 });
  }
  return samples;
}

async function measurePyodide() {
  const count = 400_000;
  const batchSize = 4096;
  const numbers = Array.from({ length: count }, (_, index) => index);
  const batches = [];
  for (let start = 0; start < count; start += batchSize)
    batches.push(numbers.slice(start, start + batchSize));

  const loadStarted = performance.now();
  const udf = python('def score(x):\n    return (x * 3 + 1) % 1000\n', { maxWorkers: 1 });
  await udf.warmUp();
  const loadMs = performance.now() - loadStarted;
  const javascript = async (rows) => rows.map((x) => (x * 3 + 1) % 1000);

  const timeOver = async (fn) => {
    const started = performance.now();
    let checksum = 0;
    for (const batch of batches) for (const value of await fn(batch)) checksum += value;
    return { seconds: (performance.now() - started) / 1000, checksum };
  };
  await timeOver(udf); // warm the function and the JIT on both sides
  await timeOver(javascript);
  const pyodideRates = [];
  const javascriptRates = [];
  let checksums;
  for (let run = 0; run < 3; run++) {
    const py = await timeOver(udf);
    const js = await timeOver(javascript);
    pyodideRates.push(count / py.seconds);
    javascriptRates.push(count / js.seconds);
    checksums = [py.checksum, js.checksum];
  }
  if (checksums[0] !== checksums[1]) throw new Error(`Pyodide and JavaScript disagree: ${checksums}`);
  await closePyodideWorkers();
  return {
    records: count,
    batchSize,
    pyodideLoadMs: round(loadMs),
    pyodideRecordsPerSecond: Math.round(median(pyodideRates)),
    javascriptRecordsPerSecond: Math.round(median(javascriptRates)),
  };
}

const samples = measureStartup();
const pyodide = await measurePyodide();
const overheads = samples.map((sample) => sample.overheadMs);
const results = {
  benchmark: 'python',
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    loadAverageAtEnd: loadavg().map((value) => round(value, 2)),
    loadBeforeSamples: distribution(samples.map((sample) => sample.load1)),
    node: process.version,
    python: interpreter,
  },
  first_record_overhead_ms: round(median(overheads)),
  targets: { first_record_overhead_ms: 150 },
  first_record_overhead_distribution_ms: distribution(overheads),
  millrace_first_record_ms: distribution(samples.map((sample) => sample.millraceMs)),
  plain_python_start_ms: distribution(samples.map((sample) => sample.plainMs)),
  samples: samples.map((sample) => ({
    millraceMs: round(sample.millraceMs),
    plainMs: round(sample.plainMs),
    overheadMs: round(sample.overheadMs),
    load1: round(sample.load1, 2),
  })),
  runs,
  pyodide: {
    ...pyodide,
    pyodide_vs_javascript: round(pyodide.pyodideRecordsPerSecond / pyodide.javascriptRecordsPerSecond, 4),
  },
};

console.log(
  'start to first record consumed by Python, %d fresh-process samples: Millrace %s ms, python3 -c %s ms (medians)',
  runs,
  results.millrace_first_record_ms.median,
  results.plain_python_start_ms.median,
);
console.log(
  '  overhead per sample (Millrace minus its paired plain start): median %s ms, p25 %s, p75 %s, min %s, max %s (target <= 150)',
  results.first_record_overhead_ms,
  results.first_record_overhead_distribution_ms.p25,
  results.first_record_overhead_distribution_ms.p75,
  results.first_record_overhead_distribution_ms.min,
  results.first_record_overhead_distribution_ms.max,
);
console.log(
  'Pyodide UDF (warm, batches of %d): %s records/s; same function in JavaScript: %s records/s (ratio %s); Pyodide load %s ms',
  pyodide.batchSize,
  pyodide.pyodideRecordsPerSecond,
  pyodide.javascriptRecordsPerSecond,
  results.pyodide.pyodide_vs_javascript,
  pyodide.pyodideLoadMs,
);

mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'python.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log('wrote bench/results/python.json');
