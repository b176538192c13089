#!/usr/bin/env node
// One measurement of bench/ring.mjs, in a fresh process (so no JIT state, heap or ring leaks from
// one competitor into the next). Prints one JSON line: records, the seconds the Python side took
// from its first record to its last, and both processes' CPU seconds.
//
//   measure.mjs path-small   COUNT   the production path: a dataflow source → addRole (msgpack codec)
//                                    → pythonRunner whose entry decodes every record (ctx.input)
//   measure.mjs pipes-small  COUNT   the same job with pythonRunner({ transport: 'pipes' })
//   measure.mjs pipes-large  COUNT   path-large's job with pythonRunner({ transport: 'pipes' })
//   measure.mjs raw-ring     COUNT   the same records, msgpack-encoded here into one buffer per batch,
//                                    written with RingWriter.writePacked straight into a bare ring;
//                                    Python reads it with millrace_shm, msgpack-decodes every record
//   measure.mjs unix-socket  COUNT   a hand-written feeder: msgpack-encoded, length-prefixed, batched
//                                    into ~1 MiB socket writes; Python recv_into + msgpack decode
//   measure.mjs json-lines   COUNT   JSON.stringify per record, one line each on the child's stdin;
//                                    Python json.loads per line
//   measure.mjs path-large   COUNT   1 MiB float32 tensor frames through the production path
//                                    (tensor codec) into numpy.frombuffer views
//   measure.mjs memcpy       COUNT   the physical ceiling: a C loop copying the same frames on one core
//   measure.mjs encode-small COUNT   the Node side's own ceiling: the same records msgpack-encoded in
//                                    batches and dropped, no transport (any feeder does this work)
//   measure.mjs encode-large COUNT   the same for tensor frames: encodeTensorFrame, dropped
//   measure.mjs decode-small COUNT   the Python side's own ceiling: the same records, encoded there
//                                    beforehand, only msgpack-decoded
//
// Every small-record competitor starts from the same JavaScript objects (`record(i)`), encodes them
// on the Node side and decodes them into Python objects on the other, record for record.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonRunner } from '../../bridges/python/dist/index.js';
import {
  createRing,
  encodeTensorFrame,
  msgpackCodec,
  pythonModuleDirectory,
  RingWriter,
  tensorFrameCodec,
} from '../../bridges/shm/dist/index.js';
import { Job } from '../../packages/dataflow/dist/index.js';
import { addAMRole, addRole, createGenericEngine } from '../../packages/runtime/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.MILLRACE_BENCH_PYTHON ?? '/usr/bin/python3';
const [mode, countText] = process.argv.slice(2);
const count = Number(countText);
const scratch = mkdtempSync(join(tmpdir(), 'millrace-ring-bench-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** Records of 256 bytes once msgpack-encoded: {id: uint32, payload: 237-character string}. */
const payload = 'p'.repeat(237);
const record = (index) => ({ id: 1_000_000 + index, payload });
/** Records moved per batch by the hand-written competitors (the pump's batch is 4096). */
const batchRecords = 4096;
const frameBytes = 1 << 20;
/** The tensor frame every large-record competitor sends: 1 MiB with its header. */
const frameFeatures = new Float32Array(frameBytes / 4 - 64).fill(0.5);
const frameLabels = new Float32Array(64);
const tensorFrame = () => ({
  features: { dtype: 'float32', shape: [frameFeatures.length / 64, 64], data: frameFeatures },
  labels: { dtype: 'float32', shape: [64], data: frameLabels },
});

function cpuSeconds(before) {
  const usage = process.cpuUsage(before);
  return (usage.user + usage.system) / 1e6;
}

/** Starts the Python end of a hand-written competitor; resolves once it is ready, with its report. */
async function startPython(pythonMode, args, stdin = 'ignore') {
  const child = spawn(python, [join(here, 'python_bench.py'), pythonMode, ...args], {
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
      if (code !== 0) reject(new Error(`python ${pythonMode} exited ${code}`));
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

/** The production path: what a user writes to feed a Python runner from a pipeline. */
async function pathJob(kind, transport = 'ring') {
  const reportFile = join(scratch, 'report.json');
  const job = new Job({ name: `ring-bench-${kind}`, batchSize: kind === 'small' ? 1024 : 16 });
  addAMRole(
    job,
    { name: 'ring-bench', engine: 'generic', roles: { worker: { instances: 1 } }, maxRestarts: 0 },
    { engine: createGenericEngine({ roles: ['worker'] }) },
  );
  const input = kind === 'small' ? job.generate(record, { count }) : job.generate(tensorFrame, { count });
  addRole(job, 'worker', {
    instances: 1,
    input,
    codec: kind === 'small' ? msgpackCodec : tensorFrameCodec,
    runner: pythonRunner({
      entry: `${join(here, 'path_entry.py')}:consume`,
      python,
      output: 'inherit',
      transport,
      // Tensor frames of 1 MiB: a 16 MiB ring holds a batch of them, as in bench/pytorch.
      ringBytes: kind === 'small' || transport === 'pipes' ? undefined : 16 << 20,
      env: { MILLRACE_BENCH_REPORT: reportFile },
    }),
  });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const outcome = await job.execute();
  const wallSeconds = (performance.now() - started) / 1000;
  if (outcome.status !== 'finished') throw new Error(`the bench job ended ${outcome.status}`);
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  return { ...report, nodeCpuSeconds: cpuSeconds(cpuBefore), jobWallSeconds: wallSeconds };
}

async function rawRing() {
  const { path } = await createRing({ capacityBytes: 4 << 20, codec: 'msgpack' });
  const reader = await startPython('ring-msgpack', [path]);
  const writer = await RingWriter.open(path, { codec: 'msgpack' });
  const cpuBefore = process.cpuUsage();
  // The bare ring used as well as it can be: each batch encoded into one reused buffer and
  // written with one writePacked call (the ring has copied it once the call resolves).
  let data = new Uint8Array(batchRecords * 512);
  const offsets = new Uint32Array(batchRecords + 1);
  for (let sent = 0; sent < count; ) {
    let records = 0;
    for (const end = Math.min(count, sent + batchRecords); sent < end; sent++) {
      const encoded = msgpackCodec.encode(record(sent));
      const at = offsets[records];
      if (at + encoded.byteLength > data.byteLength) {
        const grown = new Uint8Array(2 * (at + encoded.byteLength));
        grown.set(data.subarray(0, at));
        data = grown;
      }
      data.set(encoded, at);
      offsets[++records] = at + encoded.byteLength;
    }
    await writer.writePacked({ data, offsets: offsets.subarray(0, records + 1) });
  }
  await writer.end();
  const report = await reader.report;
  await writer.close();
  rmSync(path, { force: true });
  return { ...report, nodeCpuSeconds: cpuSeconds(cpuBefore) };
}

async function unixSocket() {
  const socketPath = join(scratch, 'bench.sock');
  const reader = await startPython('unix-socket-msgpack', [socketPath]);
  const socket = connect(socketPath);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const cpuBefore = process.cpuUsage();
  for (let sent = 0; sent < count; ) {
    // One buffer per batch: a 4-byte length before each record, one write() for the lot.
    const encoded = [];
    let bytes = 0;
    for (const end = Math.min(count, sent + batchRecords); sent < end; sent++) {
      const bytesOf = msgpackCodec.encode(record(sent));
      encoded.push(bytesOf);
      bytes += 4 + bytesOf.byteLength;
    }
    const frame = Buffer.allocUnsafe(bytes);
    let offset = 0;
    for (const bytesOf of encoded) {
      frame.writeUInt32LE(bytesOf.byteLength, offset);
      frame.set(bytesOf, offset + 4);
      offset += 4 + bytesOf.byteLength;
    }
    if (!socket.write(frame)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await new Promise((resolve) => socket.end(resolve));
  const report = await reader.report;
  return { ...report, nodeCpuSeconds: cpuSeconds(cpuBefore) };
}

async function jsonLines() {
  const reader = await startPython('json-lines', [], 'pipe');
  const stdin = reader.child.stdin;
  const cpuBefore = process.cpuUsage();
  for (let sent = 0; sent < count; ) {
    let chunk = '';
    for (const end = Math.min(count, sent + batchRecords); sent < end; sent++) {
      chunk += `${JSON.stringify(record(sent))}\n`;
    }
    if (!stdin.write(chunk)) await new Promise((resolve) => stdin.once('drain', resolve));
  }
  stdin.end();
  const report = await reader.report;
  return { ...report, nodeCpuSeconds: cpuSeconds(cpuBefore) };
}

function memcpyProbe() {
  const binary = join(scratch, 'memcpy-probe');
  const compiled = spawnSync('cc', ['-O2', '-o', binary, join(here, 'memcpy-probe.c')], { stdio: 'inherit' });
  if (compiled.status !== 0) throw new Error('cannot compile bench/ring/memcpy-probe.c (needs cc)');
  const run = spawnSync(binary, [String(frameBytes), String(count), String(16 << 20)], { encoding: 'utf8' });
  const probe = JSON.parse(run.stdout);
  return { records: count, seconds: probe.seconds, bytes: probe.bytes, gbPerSecond: probe.gbPerSecond };
}

/**
 * Encoding alone, on the Node side, batch by batch as the feeders do, the result dropped: no
 * transport can deliver records faster than they are encoded, so this bounds every competitor.
 */
function encodeOnly(kind) {
  const encode =
    kind === 'small' ? (index) => msgpackCodec.encode(record(index)) : () => encodeTensorFrame(tensorFrame());
  const perBatch = kind === 'small' ? batchRecords : 16;
  let bytes = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  for (let sent = 0; sent < count; ) {
    const batch = [];
    for (const end = Math.min(count, sent + perBatch); sent < end; sent++) batch.push(encode(sent));
    for (const encoded of batch) bytes += encoded.byteLength;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    records: count,
    seconds,
    bytes: kind === 'small' ? 0 : bytes,
    nodeCpuSeconds: cpuSeconds(cpuBefore),
    cpuSeconds: 0,
  };
}

const measurements = {
  'path-small': () => pathJob('small'),
  'path-large': () => pathJob('large'),
  'pipes-small': () => pathJob('small', 'pipes'),
  'pipes-large': () => pathJob('large', 'pipes'),
  'raw-ring': rawRing,
  'unix-socket': unixSocket,
  'json-lines': jsonLines,
  memcpy: async () => memcpyProbe(),
  'encode-small': async () => encodeOnly('small'),
  'encode-large': async () => encodeOnly('large'),
  'decode-small': async () => {
    const reader = await startPython('decode-msgpack', [String(count)]);
    return { ...(await reader.report), nodeCpuSeconds: 0 };
  },
};
if (!measurements[mode] || !(count > 0)) {
  console.error(`usage: measure.mjs ${Object.keys(measurements).join('|')} COUNT`);
  process.exit(2);
}
const result = await measurements[mode]();
if (result.records !== count)
  throw new Error(`${mode}: Python received ${result.records} of ${count} records`);
console.log(JSON.stringify({ mode, ...result }));
process.exit(0);
