/**
 * A dataflow stream feeding an ML-style cluster: the numbers 1..N are spread over the two nodes
 * of a stream-mode role; each node's runner (a separate Node process) sums what it receives and
 * emits its result downstream, where the job checks that the parts add up to N(N+1)/2. The runners
 * checkpoint and the role replays what a restarted runner had not checkpointed, so a runner
 * killed mid-stream (the chaos suite does it) still leaves every number counted once.
 *
 *   npx millrace run examples/stream-to-cluster -- --count 100000
 *   node examples/stream-to-cluster/src/main.mjs --count 100000
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  defineJobModule,
  isHostShare,
  isMainModule,
  Job,
  processHosts,
  runJobModule,
} from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, streamProcessRunner } from '@millrace/runtime';

const runnerProgram = fileURLToPath(new URL('./summing-runner.mjs', import.meta.url));

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const { values } = parseArgs({ args, options: { count: { type: 'string', default: '100000' } } });
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`--count must be a positive integer, got '${values.count}'`);

  const pipeline = new Job({ name: 'stream-to-cluster' });
  const numbers = pipeline.generate((i) => i + 1, { count, name: 'numbers' });

  // The cluster: one application manager and a `summer` role with two nodes. The generic engine
  // finishes the cluster when every node of its (finishing) roles has finished.
  addAMRole(
    pipeline,
    { name: 'summing', engine: 'generic', roles: { summer: { instances: 2 } } },
    { engine: createGenericEngine({ roles: ['summer'] }) },
  );
  const partialSums = addRole(pipeline, 'summer', {
    instances: 2,
    input: numbers, // stream mode: node i gets what subtask i receives
    runner: streamProcessRunner({ command: process.execPath, args: [runnerProgram] }),
    // The runner acknowledges checkpoints: a restarted runner gets the records after its last one.
    replay: true,
  });
  const results = partialSums.collect({ name: 'results' });

  track(pipeline);
  await pipeline.execute({ signal });
  if (signal.aborted) return;

  // A runner killed after writing its result but before exiting is restarted from its last
  // checkpoint and writes the same result again (downstream records are at-least-once): one a node.
  const parts = [...new Map(results.records.map((part) => [part.node, part])).values()];
  const total = parts.reduce((sum, part) => sum + part.sum, 0);
  const received = parts.reduce((sum, part) => sum + part.count, 0);
  for (const part of parts) log(`${part.node}: ${part.count} records, sum ${part.sum}`);
  // On several hosts (`millrace run --hosts N`), this host's nodes got this host's share of the
  // numbers: position p (the number p + 1) belongs to host p mod N.
  const hosts = processHosts();
  let expected = 0;
  let expectedCount = 0;
  for (let position = 0; position < count; position++) {
    if (!isHostShare(hosts, position)) continue;
    expected += position + 1;
    expectedCount += 1;
  }
  if (total !== expected || received !== expectedCount) {
    throw new Error(
      `the cluster summed ${total} over ${received} records; expected ${expected} over ${expectedCount}`,
    );
  }
  log(
    hosts.count === 1
      ? `total ${total} = ${count}·${count + 1}/2 ✓`
      : `total ${total} over this host's ${expectedCount} numbers (host ${hosts.index} of ${hosts.count}) ✓`,
  );
});

if (isMainModule(import.meta.url)) await runJobModule(job);
