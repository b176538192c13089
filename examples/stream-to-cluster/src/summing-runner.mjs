/**
 * The runner program each node of the `summer` role starts. It reads the records its node was
 * handed (JSON numbers), reports progress as node metrics, and writes one result record when its
 * input ends. It knows nothing about pipes or rings: `openRunnerChannels()` hides the transport.
 *
 * It keeps a checkpoint (input position, count and sum) in its node's checkpoint directory and
 * acknowledges it, so the role's replay buffer hands a restarted runner exactly the records after
 * that position: killed at any moment, the sums still count every number once.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openRunnerChannels } from '@millrace/runtime';

const channels = await openRunnerChannels();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const node = `${process.env.MILLRACE_ROLE}[${process.env.MILLRACE_INDEX}]`;
const checkpointEvery = 5_000;
const checkpointFile = join(process.env.MILLRACE_CHECKPOINT_DIR, `summer-${process.env.MILLRACE_INDEX}.json`);

const state = existsSync(checkpointFile)
  ? JSON.parse(readFileSync(checkpointFile, 'utf8'))
  : { position: 0, count: 0, sum: 0 };
// Killed after writing a checkpoint but before acknowledging it, the runner is handed records its
// checkpoint already holds: skip them.
let skip = Math.max(0, state.position - channels.resumePosition);

async function checkpoint() {
  writeFileSync(`${checkpointFile}.tmp`, JSON.stringify(state));
  renameSync(`${checkpointFile}.tmp`, checkpointFile); // atomic: a kill leaves the old or the new one
  await channels.checkpointed(state.position);
}

for await (const bytes of channels.input) {
  if (skip > 0) {
    skip -= 1;
    continue;
  }
  state.sum += JSON.parse(decoder.decode(bytes));
  state.count += 1;
  state.position = channels.position;
  if (state.count % 10_000 === 0) console.log(`millrace:metrics ${JSON.stringify({ records: state.count })}`);
  if (state.position % checkpointEvery === 0) await checkpoint();
}
await checkpoint();
await channels.output.write(encoder.encode(JSON.stringify({ node, sum: state.sum, count: state.count })));
await channels.output.end();
