/**
 * Runs the dashboard server on a worker thread (see dashboard-worker.ts for why) and hands it the
 * job's events. Events cross as JSON: observations may hold error objects, which the page shows
 * by their message only.
 */
import { type MessagePort, Worker } from 'node:worker_threads';
import type { DashboardServer, DashboardServerOptions } from './dashboard-server.js';
import type { WorkerReply, WorkerRequest } from './dashboard-worker.js';
import type { JobViewEvent } from './job-view.js';

export interface DashboardThread extends DashboardServer {
  /** Hands one event to the dashboard's view. */
  apply(event: JobViewEvent): void;
  /**
   * Feeds the view from `port` as well: each message on it is a {@link JobViewEvent}. Another
   * thread (`millrace run`'s board thread, with its status reads) sends to it directly, so the
   * view keeps moving while the thread that calls `apply` is busy. The port is transferred.
   */
  connect(port: MessagePort): void;
}

/** How long `close` waits for the thread to flush open pages and stop before terminating it. */
const closeBoundMs = 4_000;

// Under the `millrace-source` condition (tests, typechecking) this module is the .ts source,
// but a worker runs built JavaScript: use the built worker next to the sources.
const workerUrl = import.meta.url.endsWith('.ts')
  ? new URL('../dist/dashboard-worker.js', import.meta.url)
  : new URL('./dashboard-worker.js', import.meta.url);

export function startDashboardThread(
  options: Omit<DashboardServerOptions, 'view'> & { startedAt?: number | undefined },
): Promise<DashboardThread> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl, {
      workerData: { ...options, startedAt: options.startedAt ?? Date.now() },
    });
    worker.unref();
    let closing: Promise<void> | undefined;
    const send = (request: WorkerRequest) => worker.postMessage(request);
    worker.once('error', (error) => reject(new Error(`the dashboard thread failed: ${error.message}`)));
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'failed') {
        reject(new Error(reply.message));
        void worker.terminate();
      }
      if (reply.type !== 'listening') return;
      resolve({
        url: reply.url,
        metricsUrl: reply.metricsUrl,
        readOnlyToken: reply.readOnlyToken,
        apply(event) {
          if (!closing) send({ type: 'event', event: JSON.parse(JSON.stringify(event)) as JobViewEvent });
        },
        connect(port) {
          if (!closing) worker.postMessage({ type: 'port', port } satisfies WorkerRequest, [port]);
        },
        close() {
          closing ??= new Promise<void>((done) => {
            const timer = setTimeout(() => void worker.terminate().then(() => done()), closeBoundMs);
            worker.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            send({ type: 'close' });
          });
          return closing;
        },
      });
    });
  });
}
