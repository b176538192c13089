// Loaded with `node --import` into a `millrace run` process by bench/control-plane.mjs: measures
// the event-loop delay of the job's thread and of the thread hosting the application manager
// (runtime's am-thread.ts passes this process's Node arguments on to it, so the probe loads there
// too). Both are measured from the moment the AM serves (its thread posts `started`) to the end,
// and written to $MILLRACE_BENCH_DELAY_DIR every 100 ms (a terminated thread runs no exit hook).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

const directory = process.env.MILLRACE_BENCH_DELAY_DIR;
const isApplicationManagerThread =
  !isMainThread && typeof workerData === 'object' && workerData !== null && 'pipelineTurns' in workerData;
const servingMarker = directory && join(directory, 'am-serving');

if (directory && (isMainThread || isApplicationManagerThread)) {
  const thread = isMainThread ? 'job' : 'application-manager';
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  let measuring = false;
  const begin = () => {
    if (measuring) return;
    measuring = true;
    histogram.reset();
    histogram.enable();
  };
  if (isApplicationManagerThread) {
    const post = parentPort.postMessage.bind(parentPort);
    parentPort.postMessage = (message, transfer) => {
      if (message?.type === 'started') {
        writeFileSync(servingMarker, '');
        begin();
      }
      return post(message, transfer);
    };
  }
  const write = () => {
    if (isMainThread && !measuring && existsSync(servingMarker)) begin();
    if (!measuring) return;
    writeFileSync(
      join(directory, `${thread}-thread.json`),
      JSON.stringify({
        thread,
        max_ms: histogram.max / 1e6,
        p99_ms: histogram.percentile(99) / 1e6,
        mean_ms: histogram.mean / 1e6,
        samples: histogram.count,
      }),
    );
  };
  setInterval(write, 100).unref();
  process.on('exit', write);
}
