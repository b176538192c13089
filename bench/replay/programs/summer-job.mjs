// One measured run of the replay benchmark, in its own process:
// `node summer-job.mjs '{"count":…,"replay":true,…}'` prints one JSON line with what the job did.
// The job: numbers 0 … count-1 → a 2-instance stream-mode role whose runners (summer-runner.mjs)
// keep the count and sum of what they consumed in an acknowledged checkpoint. Shared by the
// sections replay-on-vs-off.mjs and recovery.mjs, so both measure the same job.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, streamProcessRunner } from '@millrace/runtime';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const options = JSON.parse(process.argv[2]);
const instances = options.instances ?? 2;
// Our own checkpoint directory, so this process can read the runner's kill time from it.
const checkpointDirectory = mkdtempSync(join(tmpdir(), 'bench-replay-'));
const job = new Job({ name: 'bench-replay', batchSize: 256 });
addAMRole(
  job,
  {
    name: 'sums',
    engine: 'generic',
    roles: { summer: { instances } },
    checkpointDirectory,
    maxRestarts: 2,
    restartBackoff: { initialMs: options.restartBackoffMs ?? 100, maxMs: 1_000 },
  },
  { engine: createGenericEngine({ roles: ['summer'], failurePolicy: 'restart-one' }) },
);
const results = addRole(job, 'summer', {
  instances,
  input: job.generate((id) => id, { count: options.count }),
  runner: streamProcessRunner({
    command: process.execPath,
    args: [fileURLToPath(new URL('summer-runner.mjs', import.meta.url))],
    cwd: root,
    output: 'ignore',
    gracePeriodMs: 1_000,
    transport: options.transport ?? 'shm',
    env: {
      CHECKPOINT_EVERY: String(options.checkpointEvery ?? 4096),
      TRACK_IDS: String(options.trackIds ? options.count : 0),
      ...(options.killAfter ? { KILL_AFTER: String(options.killAfter) } : {}),
    },
  }),
  replay: options.replay && options.maxRecords ? { maxRecords: options.maxRecords } : options.replay,
}).collect();
// Peak memory of this (the job's) process while it runs: the replay buffers live here.
// With options.measureMemory (and --expose-gc) each sample follows a full collection, so the peak
// is what is retained, not garbage not yet collected.
const peakMemory = { retained: 0 };
const sampler = setInterval(
  () => {
    if (options.measureMemory) globalThis.gc();
    const usage = process.memoryUsage();
    peakMemory.retained = Math.max(peakMemory.retained, usage.heapUsed + usage.arrayBuffers);
  },
  options.measureMemory ? 50 : 10,
);
const outcome = await job.execute();
clearInterval(sampler);
const killedAtFile = join(checkpointDirectory, 'killed-at');
const killedAt = existsSync(killedAtFile) ? Number(readFileSync(killedAtFile, 'utf8')) : undefined;
rmSync(checkpointDirectory, { recursive: true, force: true });
if (outcome.status !== 'finished') {
  console.error(`bench-replay job ${outcome.status}: ${outcome.error?.message ?? ''}`);
  process.exit(1);
}
const records = results.records;
const timings = records.flatMap((record) => (record.timing ? [record.timing] : []));
const finals = records.flatMap((record) => (record.final ? [record.final] : []));
const restarts = records.filter((record) => record.firstRecordAt !== undefined);
const role = outcome.metrics.find((metrics) => metrics.operator === 'sums-summer');
// CPU seconds of this process and its reaped children (the runners): /proc/self/stat fields
// utime, stime, cutime, cstime, in clock ticks (100 a second on Linux).
const ticks = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ').slice(11, 15).map(Number);
const cpuSeconds = ticks.reduce((sum, value) => sum + value, 0) / 100;
const summary = {
  replay: options.replay,
  count: finals.reduce((sum, final) => sum + final.count, 0),
  sum: finals.reduce((sum, final) => sum + final.sum, 0),
  // Throughput while records flow: first record taken by any runner to the last one.
  recordsPerSecond:
    options.count /
    ((Math.max(...timings.map((t) => t.last)) - Math.min(...timings.map((t) => t.first))) / 1000),
  recordsPerCpuSecond: options.count / cpuSeconds,
  recordsReplayed: role?.extra.recordsReplayed ?? 0,
  recordsNotReplayed: role?.extra.recordsNotReplayed ?? 0,
  inputBufferPeakRecords: role?.extra.inputBufferPeakRecords ?? 0,
  inputBufferPeakBytes: role?.extra.inputBufferPeakBytes ?? 0,
  peakRetainedBytes: peakMemory.retained,
};
if (killedAt !== undefined) {
  // kill -9 to the restarted runner's first (replayed) record.
  summary.recoveryMs = restarts.length > 0 ? restarts[0].firstRecordAt - killedAt : null;
}
if (options.trackIds) {
  // Per id, how often it is in the runners' final (checkpointed) states.
  const total = new Uint16Array(options.count);
  for (const final of finals) {
    const counts = Buffer.from(final.ids, 'base64');
    for (let id = 0; id < options.count; id++) total[id] += counts[id];
  }
  summary.lostRecords = total.filter((times) => times === 0).length;
  summary.duplicatedRecords = total.filter((times) => times > 1).length;
}
process.stdout.write(`${JSON.stringify(summary)}\n`);
