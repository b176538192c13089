/**
 * Starts `millrace run`'s board thread (board-worker.ts) and feeds it: the run's events as they
 * happen, a sign of life every 250 ms while this thread is free, the terminal's width, and the
 * address of each cluster's AM so the board can read its status itself while this thread is busy.
 */
import { type MessagePort, Worker } from 'node:worker_threads';
import { observationToJson } from '../observation-text.js';
import type { BoardMode, BoardRequest, BoardSettings } from './board-worker.js';
import type { ApplicationManagerEndpoint, BoardEvent, RunReporter } from './run-events.js';

/** How long `close` waits for the board to write its last lines before it is stopped. */
const closeBoundMs = 5_000;
/** How often this thread tells the board it is free. */
const aliveEveryMs = 250;

// Under the `millrace-source` condition (tests, typechecking) this module is the .ts source, but a
// worker runs built JavaScript: use the built worker (tsup writes it as dist/board-worker.js).
const workerUrl = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/board-worker.js', import.meta.url)
  : new URL('./board-worker.js', import.meta.url);

export interface BoardThread extends RunReporter {
  follow(endpoint: ApplicationManagerEndpoint): void;
  shareStatus(port: MessagePort): void;
  close(): Promise<void>;
}

/**
 * The board on its own thread, writing to this process's stdout and stderr (file descriptors 1
 * and 2). Events are copied as structured clones; errors inside observations go as
 * `{ name, code, message }`, as `--json` prints them anyway.
 */
export function startBoardThread(options: {
  mode: BoardMode;
  startedAt: number;
  output?: { columns?: number | undefined; on?(event: 'resize', listener: () => void): unknown };
  /** Reports on this thread instead, should the board thread fail (the rest of the run is not lost). */
  fallback: () => RunReporter;
}): BoardThread {
  const { output } = options;
  const worker = new Worker(workerUrl, {
    workerData: {
      mode: options.mode,
      startedAt: options.startedAt,
      columns: output?.columns,
    } satisfies BoardSettings,
  });
  let fallback: RunReporter | undefined;
  worker.once('error', (error) => {
    process.stderr.write(
      `millrace run: the board thread failed (${error.message}); reporting from the job's thread\n`,
    );
    fallback = options.fallback();
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const send = (request: BoardRequest) => {
    if (fallback) {
      if (request.type === 'event') fallback.event(request.event, request.at);
      return;
    }
    try {
      worker.postMessage(request);
    } catch {
      // Something in the event cannot be cloned (a job's own payload): send what JSON keeps.
      worker.postMessage(JSON.parse(JSON.stringify(request)) as BoardRequest);
    }
  };
  const alive = setInterval(() => send({ type: 'alive' }), aliveEveryMs);
  alive.unref();
  const onResize = () => {
    if (output?.columns) send({ type: 'columns', columns: output.columns });
  };
  output?.on?.('resize', onResize);
  let closing: Promise<void> | undefined;
  return {
    event(event: BoardEvent) {
      if (closing) return;
      send({
        type: 'event',
        at: Date.now(),
        event:
          event.type === 'cluster-observation'
            ? ({ ...event, observation: observationToJson(event.observation) } as BoardEvent)
            : event,
      });
    },
    follow(endpoint) {
      if (!closing) send({ type: 'follow', endpoint });
    },
    shareStatus(port) {
      if (closing || fallback) port.close();
      else worker.postMessage({ type: 'share-status', port } satisfies BoardRequest, [port]);
    },
    close() {
      closing ??= (async () => {
        clearInterval(alive);
        (output as NodeJS.EventEmitter | undefined)?.off?.('resize', onResize);
        send({ type: 'close' });
        const timer = setTimeout(() => void worker.terminate(), closeBoundMs);
        await exited;
        clearTimeout(timer);
        await fallback?.close();
      })();
      return closing;
    },
  };
}
