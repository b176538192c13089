// recovery_ms, lost_records, duplicated_records: the reproduction, measured. 100,000
// numbered records into a 2-instance stream-mode role (programs/summer-job.mjs, shared-memory
// ring); runner 0 SIGKILLs itself once, on its first attempt, after 15,000 records. Each runner
// checkpoints its state (with a count per id) every 2,048 records and acknowledges it; the engine
// restarts runner 0 alone (restart backoff 100 ms). Measured from the final checkpointed states:
// ids in no state (lost) and ids in a state more than once (duplicated). recovery_ms: from the
// moment the runner killed itself to the restarted runner's first (replayed) record; it includes
// the restart backoff, the process start and the runner's checkpoint load. Each run is a fresh
// process. The same job with replay off is run once for contrast (records lost at-most-once).
import { loadavg } from 'node:os';
import { runJob } from './replay-on-vs-off.mjs';

const count = 100_000;
const repetitions = Number(process.env.BENCH_REPETITIONS ?? 3);
const settings = { count, killAfter: 15_000, trackIds: true, checkpointEvery: 2_048, restartBackoffMs: 100 };

export async function measure() {
  const load = loadavg();
  const runs = [];
  for (let repetition = 0; repetition < repetitions; repetition++) {
    const run = runJob({ ...settings, replay: true });
    if (typeof run.recoveryMs !== 'number') {
      throw new Error(`recovery: the killed runner was not restarted: ${JSON.stringify(run)}`);
    }
    runs.push(run);
  }
  const off = runJob({ ...settings, replay: false });
  const recovery = runs.map((run) => run.recoveryMs).sort((a, b) => a - b);
  return {
    recovery_ms: recovery[Math.floor(recovery.length / 2)],
    recovery_ms_worst: recovery.at(-1),
    lost_records: Math.max(...runs.map((run) => run.lostRecords)),
    duplicated_records: Math.max(...runs.map((run) => run.duplicatedRecords)),
    records_replayed: runs.map((run) => run.recordsReplayed),
    replay_off_lost_records: off.lostRecords,
    replay_off_duplicated_records: off.duplicatedRecords,
    recovery_settings: {
      ...settings,
      instances: 2,
      transport: 'shm',
      repetitions,
      statistic: 'median recovery; worst lost/duplicated over the runs',
      loadAverage: load,
    },
  };
}
