// The runner of hosts-job.mjs: returns each record it reads tagged with its node and the host
// that started it. In mode `fail`, worker 1 exits with code 5 after its tenth record.
import { openRunnerChannels } from '@millrace/runtime';

const { input, output } = await openRunnerChannels();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const node = `${process.env.MILLRACE_ROLE}[${process.env.MILLRACE_INDEX}]`;
const host = Number(process.env.HOSTS_TEST_HOST);
let read = 0;
for await (const bytes of input) {
  const { id } = JSON.parse(decoder.decode(bytes));
  read += 1;
  if (process.env.HOSTS_TEST_MODE === 'fail' && process.env.MILLRACE_INDEX === '1' && read === 10) {
    console.error(`${node} cannot go on`);
    process.exit(5);
  }
  await output.write(encoder.encode(JSON.stringify({ id, node, host })));
}
await output.end();
