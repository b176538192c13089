#!/usr/bin/env node
// Python bridge benchmark, everything measured side by side in one run:
//  (a) start-up: from pythonRunner.start() to the first record consumed by Python (the runner
//      reads one record from its input ring and writes it back; we stop the clock when it arrives
//      on the output channel), for a plain entry and for one that imports torch, against
//      `python3 -c "pass"` and `python3 -c "import torch"` spawned the same way (timed to the moment
//      the import is done, signalled by a byte on stdout; the time to exit is recorded too);
//      first_record_overhead_ms = (Millrace start-to-first-record with torch) - (plain import torch);
//  (b) a Pyodide UDF (warm pool, batches of 4096) against the same function in JavaScript, in
//      records/s.
// Writes bench/results/python.json. Medians of several runs; the machine is shared, so the load
// average is recorded with the numbers.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closePyodideWorkers, python, pythonRunner } from '../bridges/python/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const interpreter = process.env.MILLRACE_BENCH_PYTHON ?? '/usr/bin/python3';
const runs = Number(process.env.MILLRACE_BENCH_RUNS ?? 7);
const scratch = mkdtempSync(join(tmpdir(), 'millrace-python-bench-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const round = (value, digits = 1) => Number(value.toFixed(digits));

/**
 * Spawns `python3 -c code`; resolves with the time until the code's first stdout byte (the code
 * prints one when its imports are done) and the time until exit. The first is the fair reference
 * for "first record consumed"; exit adds interpreter teardown, which is slow with torch loaded.
 */
function timeCommand(code) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let readyMs;
    const child = spawn(
      interpreter,
      ['-c', `${code}\nimport sys; sys.stdout.write("x"); sys.stdout.flush()`],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    child.stdout.once('data', () => {
      readyMs = performance.now() - started;
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 && readyMs !== undefined
        ? resolve({ readyMs, exitMs: performance.now() - started })
        : reject(new Error(`python -c ${code} failed`)),
    );
  });
}

writeFileSync(
  join(scratch, 'plain_entry.py'),
  'def main(ctx):\n    ctx.output.write(next(iter(ctx.input)))\n',
);
writeFileSync(
  join(scratch, 'torch_entry.py'),
  'import torch\n\ndef main(ctx):\n    ctx.output.write(next(iter(ctx.input)))\n',
);

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
    signal: new AbortController().signal,
  };
}

async function timeFirstRecord(entryFile, requiredModules) {
  const runner = pythonRunner({
    entry: `${join(scratch, entryFile)}:main`,
    python: interpreter,
    requiredModules,
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

async function measureStartup() {
  // One untimed round first: fills the page cache and the interpreter probe cache.
  await timeCommand('import torch');
  await timeFirstRecord('torch_entry.py', ['torch']);
  const samples = {
    pythonPass: [],
    pythonImportTorch: [],
    pythonImportTorchToExit: [],
    millracePlain: [],
    millraceTorch: [],
  };
  for (let run = 0; run < runs; run++) {
    samples.pythonPass.push((await timeCommand('pass')).readyMs);
    const torch = await timeCommand('import torch');
    samples.pythonImportTorch.push(torch.readyMs);
    samples.pythonImportTorchToExit.push(torch.exitMs);
    samples.millracePlain.push(await timeFirstRecord('plain_entry.py', []));
    samples.millraceTorch.push(await timeFirstRecord('torch_entry.py', ['torch']));
  }
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, round(median(values))]));
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

const startup = await measureStartup();
const pyodide = await measurePyodide();
const overhead = startup.millraceTorch - startup.pythonImportTorch;
const results = {
  benchmark: 'python',
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    loadAverage: loadavg().map((value) => round(value, 2)),
    node: process.version,
    python: interpreter,
  },
  first_record_overhead_ms: round(overhead),
  first_record_overhead_plain_ms: round(startup.millracePlain - startup.pythonPass),
  targets: { first_record_overhead_ms: 150 },
  startup_median_ms: startup,
  runs,
  pyodide: {
    ...pyodide,
    pyodide_vs_javascript: round(pyodide.pyodideRecordsPerSecond / pyodide.javascriptRecordsPerSecond, 4),
  },
};

console.log('start to first record consumed by Python (median of %d):', runs);
console.log('  python3 -c pass              %s ms', startup.pythonPass);
console.log(
  '  millrace plain entry         %s ms  (+%s ms)',
  startup.millracePlain,
  results.first_record_overhead_plain_ms,
);
console.log(
  '  python3 -c "import torch"    %s ms  (to exit: %s ms)',
  startup.pythonImportTorch,
  startup.pythonImportTorchToExit,
);
console.log(
  '  millrace entry importing torch %s ms  (+%s ms; target <= +150 ms)',
  startup.millraceTorch,
  results.first_record_overhead_ms,
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
