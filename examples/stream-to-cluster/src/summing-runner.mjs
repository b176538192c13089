/**
 * The runner program each node of the `summer` role starts. It reads the records its node was
 * handed (JSON numbers), reports progress as node metrics, and writes one result record when its
 * input ends. It knows nothing about pipes or rings: `openRunnerChannels()` hides the transport.
 */
import { openRunnerChannels } from '@millrace/runtime';

const { input, output } = await openRunnerChannels();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const node = `${process.env.MILLRACE_ROLE}[${process.env.MILLRACE_INDEX}]`;

let sum = 0;
let count = 0;
for await (const bytes of input) {
  sum += JSON.parse(decoder.decode(bytes));
  count += 1;
  if (count % 10_000 === 0) console.log(`millrace:metrics ${JSON.stringify({ records: count })}`);
}
await output.write(encoder.encode(JSON.stringify({ node, sum, count })));
await output.end();
