#!/usr/bin/env node
// Shared-memory ring benchmark, Node -> Python, everything measured side by side in one run:
//  (a) small records (64 B and 256 B), batched, into Python objects: the ring (bytes objects)
//      against JSON lines over the child's stdin (json.loads) and length-prefixed binary over a
//      Unix socket (bytes objects);
//  (b) 1 MiB tensor frames into numpy.frombuffer views, against a memcpy probe (a C loop copying
//      the same bytes on one core: the physical ceiling).
// Reports records/s or GB/s and the CPU seconds of both processes; writes bench/results/ring.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createRing,
  encodeTensorFrame,
  pythonModuleDirectory,
  RingWriter,
} from '../bridges/shm/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.MILLRACE_BENCH_PYTHON ?? '/usr/bin/python3';
const scratch = mkdtempSync(join(tmpdir(), 'millrace-ring-bench-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

const smallCounts = { 64: 12_000_000, 256: 8_000_000 };
const baselineCounts = { 64: 400_000, 256: 300_000 };
const frameCount = 2048;
const poolRecords = Number(process.env.MILLRACE_BENCH_BATCH ?? 2048);
const smallRingBytes = Number(process.env.MILLRACE_BENCH_SMALL_RING ?? 2 << 20);
const frameBytes = 1 << 20;

function cpuSeconds(before) {
  const usage = process.cpuUsage(before);
  return (usage.user + usage.system) / 1e6;
}

/**
 * Starts the Python end; resolves once it is ready (imports done, ring or socket open), with a
 * promise of its report. The report counts when its line arrives, so interpreter shutdown is not
 * timed.
 */
async function startPython(mode, args, stdin = 'ignore') {
  const child = spawn(python, [join(here, 'ring', 'python_bench.py'), mode, ...args], {
    env: { ...process.env, PYTHONPATH: pythonModuleDirectory },
    stdio: [stdin, 'pipe', 'inherit'],
  });
  let output = '';
  let readyResolve;
  let reportResolve;
  const ready = new Promise((resolve) => (readyResolve = resolve));
  const report = new Promise((resolve, reject) => {
    reportResolve = resolve;
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`python ${mode} exited ${code}`));
    });
  });
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (output.includes('ready')) readyResolve();
    const last = output.trim().split('\n').at(-1);
    if (last?.startsWith('{') && output.endsWith('\n')) reportResolve(JSON.parse(last));
  });
  await ready;
  return { child, report };
}

function recordPool(size) {
  return Array.from({ length: poolRecords }, (_, index) => {
    const bytes = new Uint8Array(size);
    bytes.fill(index & 255);
    new DataView(bytes.buffer).setUint32(0, index, true);
    return bytes;
  });
}

/** The same pool packed back to back: one buffer and the end offset of each record. */
function packedPool(pool) {
  const ends = new Uint32Array(pool.length);
  const data = new Uint8Array(pool.reduce((total, record) => total + record.byteLength, 0));
  let offset = 0;
  pool.forEach((record, index) => {
    data.set(record, offset);
    offset += record.byteLength;
    ends[index] = offset;
  });
  return { data, ends };
}

/**
 * Records/s of `size`-byte records through the ring into Python bytes objects. `packed`: the
 * records come as one buffer plus end offsets (RingWriter.writePacked), the same input the Unix
 * socket baseline gets; otherwise as an array of Uint8Array (RingWriter.writeBatch).
 */
async function ringSmall(size, count, packed) {
  const { path } = await createRing({ capacityBytes: smallRingBytes });
  const python = await startPython('ring-records', [path]);
  const writer = await RingWriter.open(path);
  const pool = recordPool(size);
  const { data, ends } = packedPool(pool);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let sent = 0; sent < count; sent += pool.length) {
    const records = Math.min(pool.length, count - sent);
    if (packed) await writer.writePacked(data, records === pool.length ? ends : ends.subarray(0, records));
    else await writer.writeBatch(records === pool.length ? pool : pool.slice(0, records));
  }
  await writer.end();
  const report = await python.report;
  const seconds = (performance.now() - started) / 1000;
  await writer.close();
  if (report.records !== count) throw new Error(`ring delivered ${report.records} of ${count} records`);
  return {
    recordsPerSecond: count / seconds,
    seconds,
    nodeCpuSeconds: cpuSeconds(cpuBefore),
    pythonCpuSeconds: report.cpuSeconds,
    pythonContextSwitches: report.contextSwitches,
  };
}

/** The usual baseline: one JSON object per line on the child's stdin, json.loads on each. */
async function jsonLines(size, count) {
  const python = await startPython('json-lines', [], 'pipe');
  // An object whose JSON line is `size` bytes long, newline included.
  const template = JSON.stringify({ id: 0, payload: '' });
  const payload = 'x'.repeat(size - template.length - 1 - 6);
  const stdin = python.child.stdin;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let sent = 0; sent < count; ) {
    let chunk = '';
    for (const end = Math.min(count, sent + 1024); sent < end; sent++) {
      chunk += `${JSON.stringify({ id: 100000 + (sent % 900000), payload })}\n`;
    }
    if (!stdin.write(chunk)) await new Promise((resolve) => stdin.once('drain', resolve));
  }
  stdin.end();
  const report = await python.report;
  const seconds = (performance.now() - started) / 1000;
  if (report.records !== count) throw new Error(`json lines delivered ${report.records} of ${count}`);
  return {
    recordsPerSecond: count / seconds,
    seconds,
    nodeCpuSeconds: cpuSeconds(cpuBefore),
    pythonCpuSeconds: report.cpuSeconds,
    pythonContextSwitches: report.contextSwitches,
  };
}

let socketCounter = 0;

/** Length-prefixed binary records over a Unix socket, batched into large writes. */
async function unixSocket(size, count) {
  socketCounter += 1;
  const socketPath = join(scratch, `bench-${size}-${socketCounter}.sock`);
  const python = await startPython('unix-socket', [socketPath]);
  const socket = connect(socketPath);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const pool = recordPool(size);
  const frame = Buffer.alloc(pool.length * (4 + size));
  pool.forEach((record, index) => {
    frame.writeUInt32LE(size, index * (4 + size));
    frame.set(record, index * (4 + size) + 4);
  });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let sent = 0; sent < count; sent += pool.length) {
    const records = Math.min(pool.length, count - sent);
    if (!socket.write(frame.subarray(0, records * (4 + size))))
      await new Promise((resolve) => socket.once('drain', resolve));
  }
  await new Promise((resolve) => socket.end(resolve));
  const report = await python.report;
  const seconds = (performance.now() - started) / 1000;
  if (report.records !== count) throw new Error(`unix socket delivered ${report.records} of ${count}`);
  return {
    recordsPerSecond: count / seconds,
    seconds,
    nodeCpuSeconds: cpuSeconds(cpuBefore),
    pythonCpuSeconds: report.cpuSeconds,
    pythonContextSwitches: report.contextSwitches,
  };
}

/** GB/s of 1 MiB float32 tensor frames into numpy.frombuffer views. */
async function ringTensors(count) {
  const capacity = 16 << 20;
  const { path } = await createRing({ capacityBytes: capacity, codec: 'tensor' });
  const python = await startPython('ring-tensors', [path]);
  const writer = await RingWriter.open(path, { codec: 'tensor' });
  const features = new Float32Array(frameBytes / 4 - 64);
  features.fill(0.5);
  const frame = encodeTensorFrame({
    features: { dtype: 'float32', shape: [features.length / 64, 64], data: features },
    labels: { dtype: 'float32', shape: [64], data: new Float32Array(64) },
  });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let sent = 0; sent < count; sent += 4) {
    await writer.writeBatch([frame, frame, frame, frame]);
  }
  await writer.end();
  const report = await python.report;
  const seconds = (performance.now() - started) / 1000;
  await writer.close();
  if (report.records !== count) throw new Error(`ring delivered ${report.records} of ${count} frames`);
  return {
    frameBytes: frame.byteLength,
    gbPerSecond: (count * frame.byteLength) / seconds / 1e9,
    seconds,
    nodeCpuSeconds: cpuSeconds(cpuBefore),
    pythonCpuSeconds: report.cpuSeconds,
    pythonContextSwitches: report.contextSwitches,
  };
}

function memcpyProbe(count) {
  const binary = join(scratch, 'memcpy-probe');
  const compiled = spawnSync('cc', ['-O2', '-o', binary, join(here, 'ring', 'memcpy-probe.c')], {
    stdio: 'inherit',
  });
  if (compiled.status !== 0) throw new Error('cannot compile bench/ring/memcpy-probe.c (needs cc)');
  const run = spawnSync(binary, [String(frameBytes), String(count), String(16 << 20)], { encoding: 'utf8' });
  return JSON.parse(run.stdout);
}

const round = (value, digits = 2) => Number(value.toFixed(digits));

// Other work shares this machine, so each measurement runs `repetitions` times, interleaved with
// the others, and the best run counts (the one least disturbed); every run is kept in the JSON.
const repetitions = Number(process.env.MILLRACE_BENCH_REPETITIONS ?? 7);
const runs = {};
async function measure(name, run, rate) {
  const result = await run();
  runs[name] ??= [];
  runs[name].push(result);
  return runs[name].reduce((best, candidate) => (rate(candidate) > rate(best) ? candidate : best));
}
const perSecond = (run) => run.recordsPerSecond;

const results = { small: {}, large: {} };
for (let repetition = 0; repetition < repetitions; repetition++) {
  for (const size of [64, 256]) {
    results.small[size] = {
      ring: await measure(`ring-${size}`, () => ringSmall(size, smallCounts[size], true), perSecond),
      ringRecordArray: await measure(
        `ring-array-${size}`,
        () => ringSmall(size, smallCounts[size] / 4, false),
        perSecond,
      ),
      jsonLines: await measure(`json-${size}`, () => jsonLines(size, baselineCounts[size]), perSecond),
      unixSocket: await measure(
        `socket-${size}`,
        () => unixSocket(size, baselineCounts[size] * 4),
        perSecond,
      ),
    };
  }
  results.large = {
    ring: await measure(
      'ring-tensors',
      () => ringTensors(frameCount),
      (run) => run.gbPerSecond,
    ),
    memcpy: await measure(
      'memcpy',
      async () => memcpyProbe(frameCount),
      (run) => run.gbPerSecond,
    ),
  };
}
for (const size of [64, 256]) {
  const { ring, ringRecordArray, jsonLines: json, unixSocket: socket } = results.small[size];
  console.log(
    `${size} B records: ring ${round(ring.recordsPerSecond / 1e6)} M/s | JSON lines ${round(json.recordsPerSecond / 1e6, 3)} M/s | ` +
      `Unix socket ${round(socket.recordsPerSecond / 1e6, 3)} M/s  ->  ${round(ring.recordsPerSecond / json.recordsPerSecond, 1)}x JSON lines, ` +
      `${round(ring.recordsPerSecond / socket.recordsPerSecond, 1)}x Unix socket` +
      `  (ring via writeBatch of Uint8Array[]: ${round(ringRecordArray.recordsPerSecond / 1e6)} M/s)`,
  );
  for (const [name, run] of Object.entries(results.small[size])) {
    const perMillion =
      ((run.nodeCpuSeconds + run.pythonCpuSeconds) / (run.recordsPerSecond * run.seconds)) * 1e6;
    console.log(
      `    ${name}: ${round(run.seconds)} s, CPU node ${round(run.nodeCpuSeconds)} s + python ${round(run.pythonCpuSeconds)} s ` +
        `(${round(perMillion)} CPU-s per million records)`,
    );
  }
}
const tensors = results.large.ring;
const memcpy = results.large.memcpy;
console.log(
  `1 MiB tensor frames: ring ${round(tensors.gbPerSecond)} GB/s | memcpy probe ${round(memcpy.gbPerSecond)} GB/s  ->  ` +
    `${round(tensors.gbPerSecond / memcpy.gbPerSecond)}x  (CPU node ${round(tensors.nodeCpuSeconds)} s + python ${round(tensors.pythonCpuSeconds)} s)`,
);

const small256 = results.small[256];
const summary = {
  benchmark: 'ring',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, loadAverage: loadavg(), node: process.version, python },
  small_vs_json_lines: round(small256.ring.recordsPerSecond / small256.jsonLines.recordsPerSecond),
  small_vs_unix_socket: round(small256.ring.recordsPerSecond / small256.unixSocket.recordsPerSecond),
  large_vs_memcpy: round(tensors.gbPerSecond / memcpy.gbPerSecond),
  small_64_vs_json_lines: round(
    results.small[64].ring.recordsPerSecond / results.small[64].jsonLines.recordsPerSecond,
  ),
  small_array_vs_json_lines: round(
    small256.ringRecordArray.recordsPerSecond / small256.jsonLines.recordsPerSecond,
  ),
  small_array_vs_unix_socket: round(
    small256.ringRecordArray.recordsPerSecond / small256.unixSocket.recordsPerSecond,
  ),
  small_64_vs_unix_socket: round(
    results.small[64].ring.recordsPerSecond / results.small[64].unixSocket.recordsPerSecond,
  ),
  targets: { small_vs_json_lines: 20, small_vs_unix_socket: 5, large_vs_memcpy: 0.5 },
  notes:
    'Node -> Python, records/s into Python objects (bytes from RingReader.read_batch; dicts from json.loads; ' +
    'bytes sliced from recv_into buffers for the socket). small_* ratios are 256 B records written with ' +
    'RingWriter.writePacked (one buffer plus end offsets: the same input the Unix-socket baseline sends); ' +
    'small_array_* write an array of Uint8Array with writeBatch. Each figure is the best of `repetitions` ' +
    'interleaved runs on a shared machine; timing stops when the Python side reports its last record.',
  repetitions,
  best: results,
  runs,
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'ring.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(
  `ring: small_vs_json_lines ${summary.small_vs_json_lines}, small_vs_unix_socket ${summary.small_vs_unix_socket}, ` +
    `large_vs_memcpy ${summary.large_vs_memcpy}  (bench/results/ring.json)`,
);
