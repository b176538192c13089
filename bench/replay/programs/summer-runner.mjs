// The runner of the replay benchmark: a stream-mode "trainer" whose model is the count and sum of
// the ids it consumed (and, with TRACK_IDS, how often it consumed each id). It checkpoints its
// state every CHECKPOINT_EVERY records (written atomically, then acknowledged with
// channels.checkpointed), so with replay on a restart resumes exactly after the checkpoint.
//
// Environment (besides Millrace's): CHECKPOINT_EVERY, TRACK_IDS (id count, 0 = off), KILL_AFTER
// (runner 0 on attempt 0 writes the time to <checkpoint dir>/killed-at and SIGKILLs itself after
// that many records). Output records: {timing} per attempt (first/last record time, records
// taken), {firstRecordAt} on the first record of a restarted attempt, {final} at the end.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openRunnerChannels } from '@millrace/runtime';

const channels = await openRunnerChannels();
const env = process.env;
const index = Number(env.MILLRACE_INDEX);
const attempt = Number(env.MILLRACE_ATTEMPT);
const directory = env.MILLRACE_CHECKPOINT_DIR;
const file = join(directory, `summer-${index}.json`);
const every = Number(env.CHECKPOINT_EVERY ?? 4096);
const trackIds = Number(env.TRACK_IDS ?? 0);
const killAfter = Number(env.KILL_AFTER ?? Number.NaN);

const fresh = () => ({ position: 0, count: 0, sum: 0, ids: trackIds ? '' : undefined });
const state = attempt > 0 && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : fresh();
const counts = trackIds ? new Uint8Array(trackIds) : undefined;
if (counts && state.ids) counts.set(Buffer.from(state.ids, 'base64'));
// Killed between writing a checkpoint and acknowledging it: the checkpoint is newer; skip the gap.
let skip = Math.max(0, state.position - channels.resumePosition);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const write = (value) => channels.output.write(encoder.encode(JSON.stringify(value)));

const save = async () => {
  if (counts) state.ids = Buffer.from(counts).toString('base64');
  writeFileSync(`${file}.tmp`, JSON.stringify(state));
  renameSync(`${file}.tmp`, file);
  await channels.checkpointed(state.position);
};

let first;
let taken = 0;
for await (const bytes of channels.input) {
  if (skip > 0) {
    skip -= 1;
    continue;
  }
  const id = JSON.parse(decoder.decode(bytes));
  if (first === undefined) {
    first = Date.now();
    if (attempt > 0) await write({ firstRecordAt: first, index, attempt, position: channels.position });
  }
  state.position = channels.position;
  state.count += 1;
  state.sum += id;
  if (counts) counts[id] = Math.min(255, counts[id] + 1);
  taken += 1;
  if (attempt === 0 && index === 0 && taken === killAfter) {
    writeFileSync(join(directory, 'killed-at'), String(Date.now()));
    process.kill(process.pid, 'SIGKILL');
  }
  if (state.position % every === 0) await save();
}
const last = Date.now();
await save();
await write({ timing: { index, attempt, first, last, taken } });
await write({ final: { index, attempt, ...state } });
await channels.output.end();
