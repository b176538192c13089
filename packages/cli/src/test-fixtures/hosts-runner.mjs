// The runner of hosts-job.mjs: returns each record it reads tagged with its node, the host that
// started it and the address its node advertised. In mode `fail`, worker 1 exits with code 5
// after its tenth record.
import { openRunnerChannels } from '@millrace/runtime';

const { input, output } = await openRunnerChannels();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const node = `${process.env.MILLRACE_ROLE}[${process.env.MILLRACE_INDEX}]`;
const host = Number(process.env.HOSTS_TEST_HOST);
// The address this node advertised to the cluster (the interface that routes to the AM).
const spec = JSON.parse(process.env.MILLRACE_CLUSTER_SPEC ?? '{}');
const address = spec.roles?.worker?.[Number(process.env.MILLRACE_INDEX)]?.host;
let read = 0;
for await (const bytes of input) {
  const { id } = JSON.parse(decoder.decode(bytes));
  read += 1;
  if (process.env.HOSTS_TEST_MODE === 'fail' && process.env.MILLRACE_INDEX === '1' && read === 10) {
    console.error(`${node} cannot go on`);
    process.exit(5);
  }
  await output.write(encoder.encode(JSON.stringify({ id, node, host, address })));
}
await output.end();
