#!/usr/bin/env node
// One sample of bench/python.mjs, in a fresh Node process: the time from pythonRunner's start()
// to the first record consumed by Python (the entry reads one record from its input ring and
// writes it back; the clock stops when it arrives on the output channel), and, in the same
// process and in alternating order, a plain `python3 -c` start spawned the same way (timed to its
// first stdout byte). The entry imports nothing heavy, so the difference is Millrace's own cost:
// the bootstrap, the control channel, the rings and the pumps. Prints one JSON line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pythonRunner } from '../../bridges/python/dist/index.js';

const interpreter = process.env.MILLRACE_BENCH_PYTHON ?? '/usr/bin/python3';
const millraceFirst = process.argv[2] === 'millrace-first';
const scratch = mkdtempSync(join(tmpdir(), 'millrace-python-bench-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
writeFileSync(
  join(scratch, 'plain_entry.py'),
  'def main(ctx):\n    ctx.output.write(next(iter(ctx.input)))\n',
);

/** `python3 -c pass`, timed from spawn to its first stdout byte (what a first record would be). */
function plainPython() {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let readyMs;
    const child = spawn(interpreter, ['-c', 'import sys; sys.stdout.write("x"); sys.stdout.flush()'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    child.stdout.once('data', () => {
      readyMs = performance.now() - started;
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 && readyMs !== undefined ? resolve(readyMs) : reject(new Error(`python3 -c exited ${code}`)),
    );
  });
}

function oneRecordContext(onFirstOutput) {
  let sent = false;
  const silent = () => {};
  return {
    jobName: 'bench',
    role: 'worker',
    index: 0,
    generation: 0,
    attempt: 0,
    clusterSpec: { jobName: 'bench', generation: 0, roles: {} },
    environment: {},
    codec: 'json',
    input: {
      async readBatch() {
        if (sent) return null;
        sent = true;
        return [new TextEncoder().encode('{"x":1}')];
      },
      async *[Symbol.asyncIterator]() {},
    },
    output: {
      write: async () => onFirstOutput(),
      writeBatch: async () => onFirstOutput(),
      end: async () => {},
    },
    checkpointDirectory: scratch,
    reservedPorts: {},
    logger: { debug: silent, info: silent, warn: silent, error: silent },
    metrics: { report: silent },
    checkpointed: silent,
    resumePosition: 0,
    signal: new AbortController().signal,
  };
}

async function millraceFirstRecord() {
  const runner = pythonRunner({
    entry: `${join(scratch, 'plain_entry.py')}:main`,
    python: interpreter,
    output: 'ignore',
  });
  let firstAt;
  const started = performance.now();
  const handle = await runner.start(
    oneRecordContext(() => {
      firstAt ??= performance.now();
    }),
  );
  const result = await handle.result;
  if (result.status !== 'succeeded') throw new Error(`bench runner ${result.status}: ${result.message}`);
  return firstAt - started;
}

const sample = {};
if (millraceFirst) {
  sample.millraceMs = await millraceFirstRecord();
  sample.plainMs = await plainPython();
} else {
  sample.plainMs = await plainPython();
  sample.millraceMs = await millraceFirstRecord();
}
console.log(JSON.stringify({ ...sample, overheadMs: sample.millraceMs - sample.plainMs, millraceFirst }));
