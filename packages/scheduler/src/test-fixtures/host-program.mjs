// A host program for scheduler tests: it takes the host command's arguments
// (`run --hosts N --host-index I --shared-dir D JOB ...`) and acts as JOB's name says:
// `succeed` writes what it was given to D/seen-I.json, `fail-1` makes host 1 fail naming a node,
// `sleep` runs until signalled (and says so in D/stopped-I when SIGTERM arrives).
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const args = process.argv.slice(2);
const option = (name) => args[args.indexOf(name) + 1];
const [hosts, index, shared] = [option('--hosts'), option('--host-index'), option('--shared-dir')];
const job = basename(args[args.indexOf(shared) + 1]);
console.log(`host ${index} of ${hosts} running ${job}`);
if (job === 'succeed') {
  writeFileSync(join(shared, `seen-${index}.json`), JSON.stringify({ args, pid: process.pid }));
} else if (job === 'fail-1' && index === '1') {
  console.error('millrace: job failed: worker[1] (generation 0) exit code 3: boom');
  process.exit(3);
} else if (job === 'sleep' || job === 'fail-1') {
  writeFileSync(join(shared, `pid-${index}`), String(process.pid));
  process.on('SIGTERM', () => {
    writeFileSync(join(shared, `stopped-${index}`), 'SIGTERM');
    process.exit(130);
  });
  setInterval(() => {}, 1000);
}
