// One agent host of the multi-host benchmark, run inside a network namespace: for each JSON line
// {join, first, count, startAt} on stdin it starts `count` node agents (worker first … first+count-1)
// at wall-clock time startAt, and prints {doneAt} once every one of them holds the cluster spec.
import { createInterface } from 'node:readline';
import { createGenericEngine, NodeAgent, parseJoinUrl, silentLogger } from '@millrace/runtime';

const engine = createGenericEngine();
const wall = () => performance.timeOrigin + performance.now();
const immediate = {
  description: 'returns at once',
  start: () => ({ result: Promise.resolve({ status: 'succeeded' }), stop: async () => {} }),
};

for await (const line of createInterface({ input: process.stdin })) {
  const { join, first, count, startAt } = JSON.parse(line);
  const target = parseJoinUrl(join);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - wall())));
  let withSpec = 0;
  let everyone;
  const allHaveSpec = new Promise((resolve) => {
    everyone = resolve;
  });
  const agents = Array.from(
    { length: count },
    (_, offset) =>
      new NodeAgent({
        ...target,
        role: 'worker',
        index: first + offset,
        engine,
        runner: immediate,
        logger: silentLogger,
        onEvent: (event) => {
          if (event.type === 'spec-received' && ++withSpec === count) everyone(wall());
        },
      }),
  );
  const runs = agents.map((agent) => agent.run());
  const doneAt = await allHaveSpec;
  await Promise.all(runs);
  process.stdout.write(`${JSON.stringify({ doneAt })}\n`);
}
