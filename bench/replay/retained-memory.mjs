// replay_retained_bytes_per_record: what one record held in a replay buffer costs the job's
// process. The same job (programs/summer-job.mjs, pipes, 2 instances, 100,000 records) once with
// replay off and once with replay on and runners that acknowledge only at the end, so the buffers
// hold everything they are given. The process runs with --expose-gc and samples heap plus
// ArrayBuffer memory after a full collection every 50 ms; the difference of the peaks divided by
// the difference of the peak records held is the cost of a held record (JSON records of 5 to 6
// bytes: the cost is the per-record overhead, not the payload).
import { loadavg } from 'node:os';
import { runJob } from './replay-on-vs-off.mjs';

const count = 100_000;

export async function measure() {
  const load = loadavg();
  const common = { count, transport: 'pipes', measureMemory: true, checkpointEvery: 10 * count };
  const off = runJob({ ...common, replay: false }, ['--expose-gc']);
  const on = runJob({ ...common, replay: true, maxRecords: count }, ['--expose-gc']);
  const held = on.inputBufferPeakRecords - off.inputBufferPeakRecords;
  return {
    replay_retained_bytes_per_record: Math.round((on.peakRetainedBytes - off.peakRetainedBytes) / held),
    replay_retained_memory_settings: {
      records: count,
      transport: 'pipes',
      peakRecordsHeld: { on: on.inputBufferPeakRecords, off: off.inputBufferPeakRecords },
      peakRetainedBytes: { on: on.peakRetainedBytes, off: off.peakRetainedBytes },
      loadAverage: load,
    },
  };
}
