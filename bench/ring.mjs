#!/usr/bin/env node
// The data path into a Python runner, measured as users run it, against competent baselines that
// do the same work. Each measurement is its own fresh Node process (bench/ring/measure.mjs), and
// the competitors take turns, `repetitions` rounds, so a noisy neighbour hits all of them alike.
//
// Small records (256 B once msgpack-encoded, the same JavaScript objects everywhere), records/s
// from the Python side's first record to its last, every record decoded into a Python object:
//  - path: a dataflow source → addRole (msgpack codec) → pythonRunner, whose entry reads
//    ctx.input.read_batch (runner-kit's ring pump, RingWriter.writePacked, msgpack.unpackb);
//  - pipes: the same job with pythonRunner({ transport: 'pipes' });
//  - raw ring: the same records encoded into one buffer per batch and written with
//    RingWriter.writePacked into a bare ring, read with millrace_shm and msgpack.unpackb (no
//    dataflow, no channel, no pump, no runner);
//  - Unix socket: a hand-written feeder, msgpack, length-prefixed, ~1 MiB writes; Python
//    recv_into a 4 MiB buffer and msgpack.unpackb per record;
//  - JSON lines: JSON.stringify per record on the child's stdin; json.loads per line.
// Large records: 1 MiB float32 tensor frames through the path (tensor codec, numpy views in
// Python), GB/s, against a C loop copying the same frames on one core (memcpy).
//
// Ceilings: the Node side encoding the same records (or frames) and dropping them, and the Python
// side decoding records it encoded itself beforehand, with no transport at all. Every competitor
// encodes every record in Node and decodes it in Python, each on one thread, so none can go faster
// than the slower of the two; `ceiling_*` fields say how far the targets are from what that allows.
//
// Figures are medians over the rounds; every run is kept, with the machine's load before it.
// Writes bench/results/ring.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repetitions = Number(process.env.MILLRACE_BENCH_REPETITIONS ?? 5);
const smallCount = Number(process.env.MILLRACE_BENCH_SMALL_COUNT ?? 400_000);
// 2 GiB of frames: the first few hundred MiB of a job land on fresh pages (its heap grows), which
// a 400 MiB stream never amortises; a training feed runs for many GiB.
const frameCount = Number(process.env.MILLRACE_BENCH_FRAME_COUNT ?? 2000);

const competitors = [
  { name: 'path', mode: 'path-small', count: smallCount },
  { name: 'pipes', mode: 'pipes-small', count: smallCount },
  { name: 'rawRing', mode: 'raw-ring', count: smallCount },
  { name: 'unixSocket', mode: 'unix-socket', count: smallCount },
  { name: 'jsonLines', mode: 'json-lines', count: smallCount },
  { name: 'pathLarge', mode: 'path-large', count: frameCount },
  { name: 'pipesLarge', mode: 'pipes-large', count: frameCount },
  { name: 'memcpy', mode: 'memcpy', count: frameCount },
  { name: 'encodeSmall', mode: 'encode-small', count: smallCount },
  { name: 'encodeLarge', mode: 'encode-large', count: frameCount },
  { name: 'decodeSmall', mode: 'decode-small', count: smallCount },
];

const round = (value, digits = 2) => Number(value.toFixed(digits));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

function measure({ mode, count }) {
  const load = loadavg()[0];
  const run = spawnSync(process.execPath, [join(here, 'ring', 'measure.mjs'), mode, String(count)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  });
  if (run.status !== 0) throw new Error(`bench/ring/measure.mjs ${mode} exited ${run.status ?? run.signal}`);
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1));
  const rate = mode === 'memcpy' ? result.gbPerSecond : result.records / result.seconds;
  return { ...result, rate, load1: load };
}

const runs = Object.fromEntries(competitors.map(({ name }) => [name, []]));
for (let round = 0; round < repetitions; round++) {
  for (const competitor of competitors) {
    const result = measure(competitor);
    runs[competitor.name].push(result);
    console.log(
      `round ${round + 1}/${repetitions} ${competitor.name}: ${
        competitor.mode === 'memcpy'
          ? `${result.rate.toFixed(2)} GB/s`
          : competitor.mode.endsWith('-large')
            ? `${(result.bytes / result.seconds / 1e9).toFixed(3)} GB/s`
            : `${(result.rate / 1e6).toFixed(3)} M records/s`
      } (load ${result.load1.toFixed(1)})`,
    );
  }
}

const rate = (name) => median(runs[name].map((run) => run.rate));
// Node encodes and Python decodes at once (two cores): the slower side bounds every competitor.
const smallCeiling = Math.min(rate('encodeSmall'), rate('decodeSmall'));
const gbPerSecond = (name) => median(runs[name].map((run) => run.bytes / run.seconds / 1e9));
const largeGbPerSecond = gbPerSecond('pathLarge');
const cpuPerMillion = (name) =>
  round(median(runs[name].map((run) => ((run.nodeCpuSeconds + run.cpuSeconds) / run.records) * 1e6)), 3);
const pythonCpuPerMillion = (name) =>
  round(median(runs[name].map((run) => (run.cpuSeconds / run.records) * 1e6)), 3);

const summary = {
  benchmark: 'ring',
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    loadAverageAtEnd: loadavg().map((value) => round(value)),
    loadAverageBeforeRuns: {
      min: round(
        Math.min(
          ...Object.values(runs)
            .flat()
            .map((run) => run.load1),
        ),
      ),
      median: round(
        median(
          Object.values(runs)
            .flat()
            .map((run) => run.load1),
        ),
      ),
      max: round(
        Math.max(
          ...Object.values(runs)
            .flat()
            .map((run) => run.load1),
        ),
      ),
    },
    node: process.version,
  },
  path_small_vs_unix_socket: round(rate('path') / rate('unixSocket')),
  path_small_vs_json_lines: round(rate('path') / rate('jsonLines')),
  path_large_vs_memcpy: round(largeGbPerSecond / rate('memcpy'), 3),
  path_vs_raw_ring: round(rate('path') / rate('rawRing')),
  // The same job with transport: 'pipes'.
  path_small_vs_pipes: round(rate('path') / rate('pipes')),
  path_large_vs_pipes: round(largeGbPerSecond / gbPerSecond('pipesLarge')),
  // What encoding and decoding alone allow (no transport): the most any feeder could reach.
  ceiling_small_vs_unix_socket: round(smallCeiling / rate('unixSocket')),
  ceiling_small_vs_json_lines: round(smallCeiling / rate('jsonLines')),
  ceiling_large_vs_memcpy: round(gbPerSecond('encodeLarge') / rate('memcpy'), 3),
  // How much of that ceiling the path reaches.
  path_small_vs_ceiling: round(rate('path') / smallCeiling),
  path_large_vs_encode_only: round(largeGbPerSecond / gbPerSecond('encodeLarge')),
  targets: {
    path_small_vs_unix_socket: 5,
    path_small_vs_json_lines: 20,
    path_large_vs_memcpy: 0.5,
    path_vs_raw_ring: 0.8,
  },
  median_records_per_second: {
    path: Math.round(rate('path')),
    pipes: Math.round(rate('pipes')),
    rawRing: Math.round(rate('rawRing')),
    unixSocket: Math.round(rate('unixSocket')),
    jsonLines: Math.round(rate('jsonLines')),
    encodeOnly: Math.round(rate('encodeSmall')),
    decodeOnly: Math.round(rate('decodeSmall')),
  },
  median_gb_per_second: {
    pathLarge: round(largeGbPerSecond, 3),
    pipesLarge: round(gbPerSecond('pipesLarge'), 3),
    encodeOnly: round(gbPerSecond('encodeLarge'), 3),
    memcpy: round(rate('memcpy')),
  },
  // CPU seconds per million records, both processes, and the Python side alone: where the time goes.
  cpu_seconds_per_million_records: {
    path: cpuPerMillion('path'),
    pipes: cpuPerMillion('pipes'),
    rawRing: cpuPerMillion('rawRing'),
    unixSocket: cpuPerMillion('unixSocket'),
    jsonLines: cpuPerMillion('jsonLines'),
  },
  python_cpu_seconds_per_million_records: {
    path: pythonCpuPerMillion('path'),
    pipes: pythonCpuPerMillion('pipes'),
    rawRing: pythonCpuPerMillion('rawRing'),
    unixSocket: pythonCpuPerMillion('unixSocket'),
    jsonLines: pythonCpuPerMillion('jsonLines'),
  },
  counts: { smallRecords: smallCount, frames: frameCount, recordBytes: 256, frameBytes: 1 << 20 },
  repetitions,
  notes:
    'Each run is a fresh Node process; rates are from the Python side (first record to last) and ' +
    'every record is decoded into a Python object on every side (msgpack.unpackb; json.loads for JSON ' +
    'lines; numpy views for tensor frames). Medians over `repetitions` interleaved rounds; load1 is ' +
    'the 1-minute load average just before each run. The machine has 2 cores shared with other work. ' +
    'encodeOnly: the Node side encoding the same records and dropping them, no transport, timed in Node; ' +
    'decodeOnly: Python decoding the same records it encoded beforehand (the ceilings). Tensor frames: 2 GiB per run; page faults cost about 8 µs each on this VM, so ' +
    'memory that is not reused dominates (a Python runner with input keeps the memory it freed: millrace/_memory.py).',
  runs,
};

for (const name of ['path', 'pipes', 'rawRing', 'unixSocket', 'jsonLines']) {
  console.log(
    `${name}: ${(rate(name) / 1e6).toFixed(3)} M records/s median, ${cpuPerMillion(name)} CPU-s per million records ` +
      `(Python ${pythonCpuPerMillion(name)})`,
  );
}
console.log(
  `1 MiB frames: path ${largeGbPerSecond.toFixed(3)} GB/s, pipes ${gbPerSecond('pipesLarge').toFixed(3)} GB/s, encoding alone ${gbPerSecond('encodeLarge').toFixed(3)} GB/s, memcpy ${rate('memcpy').toFixed(2)} GB/s`,
);
console.log(
  `ceilings (encoding or decoding alone, the slower): vs Unix socket ${summary.ceiling_small_vs_unix_socket}, vs JSON lines ` +
    `${summary.ceiling_small_vs_json_lines}, vs memcpy ${summary.ceiling_large_vs_memcpy}`,
);
console.log(
  `ring: path_small_vs_unix_socket ${summary.path_small_vs_unix_socket}, path_small_vs_json_lines ` +
    `${summary.path_small_vs_json_lines}, path_large_vs_memcpy ${summary.path_large_vs_memcpy}, path_vs_raw_ring ` +
    `${summary.path_vs_raw_ring}  (bench/results/ring.json)`,
);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'ring.json'), `${JSON.stringify(summary, null, 2)}\n`);
