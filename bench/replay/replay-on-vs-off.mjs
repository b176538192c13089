// replay_on_vs_off: stream throughput of the same job with replay on and off. The job
// (programs/summer-job.mjs): 600,000 numbered records into a 2-instance stream-mode role over the
// shared-memory ring; each runner keeps the count and sum of its ids in a checkpoint written and
// acknowledged every 4,096 records. Replay on keeps every record handed to a runner until the
// checkpoint covering it is acknowledged; off drops it when read. The runners do almost no work per
// record, so this is the worst case for replay's cost: a real trainer spends far more per record.
// Throughput counts from the first record any runner took to the last (process starts excluded).
// Each run is a fresh process; on and off alternate; the section refuses to report when a run's
// count or checksum is wrong. The statistic is the median of each side: on a shared 2-core machine
// single runs vary by a factor of two.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const count = Number(process.env.BENCH_RECORDS ?? 600_000);
const repetitions = Number(process.env.BENCH_REPETITIONS ?? 7);
const job = fileURLToPath(new URL('programs/summer-job.mjs', import.meta.url));

export function runJob(options, nodeOptions = []) {
  const output = execFileSync(process.execPath, [...nodeOptions, job, JSON.stringify(options)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(output.trim().split('\n').pop());
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

export async function measure() {
  const load = loadavg();
  const runs = { on: [], off: [] };
  const cpuRuns = { on: [], off: [] };
  for (let repetition = 0; repetition < repetitions; repetition++) {
    for (const mode of repetition % 2 ? ['on', 'off'] : ['off', 'on']) {
      const run = runJob({ count, replay: mode === 'on' });
      if (run.count !== count || run.sum !== (count * (count - 1)) / 2) {
        throw new Error(`replay-on-vs-off: a run's result is wrong: ${JSON.stringify(run)}`);
      }
      runs[mode].push(run.recordsPerSecond);
      cpuRuns[mode].push(run.recordsPerCpuSecond);
    }
  }
  const on = median(runs.on);
  const off = median(runs.off);
  return {
    replay_on_vs_off: Number((on / off).toFixed(4)),
    replay_on_records_per_second: Math.round(on),
    replay_off_records_per_second: Math.round(off),
    replay_on_vs_off_runs: {
      on: runs.on.map(Math.round),
      off: runs.off.map(Math.round),
      best_on_vs_best_off: Number((Math.max(...runs.on) / Math.max(...runs.off)).toFixed(4)),
    },
    // Records per CPU second of the job's process and its runners (start-up included): what the
    // work costs, whatever else the machine runs at the time.
    replay_on_vs_off_per_cpu_second: Number((median(cpuRuns.on) / median(cpuRuns.off)).toFixed(4)),
    replay_on_vs_off_settings: {
      records: count,
      repetitions,
      instances: 2,
      transport: 'shm',
      checkpointEvery: 4096,
      statistic: 'median of each side',
      loadAverage: load,
    },
  };
}
