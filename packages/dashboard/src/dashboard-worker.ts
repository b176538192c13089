/**
 * The dashboard's own thread: a {@link JobView} and the HTTP server, fed by messages from the
 * thread that runs the job. A pipeline can hold its thread for seconds (model compilation, a
 * tight operator loop); served from here, the page, its event stream and `/metrics` keep
 * answering meanwhile, and the job's clock keeps moving.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type DashboardServerOptions, startDashboardServer } from './dashboard-server.js';
import { JobView, type JobViewEvent } from './job-view.js';

export type WorkerRequest = { type: 'event'; event: JobViewEvent } | { type: 'close' };
export type WorkerReply =
  | { type: 'listening'; url: string; metricsUrl: string; readOnlyToken: string }
  | { type: 'failed'; message: string }
  | { type: 'closed' };

const port = parentPort!;
const view = new JobView({ startedAt: (workerData as { startedAt: number }).startedAt });
const options = workerData as Omit<DashboardServerOptions, 'view'>;
startDashboardServer({ ...options, view }).then(
  (server) => {
    port.postMessage({
      type: 'listening',
      url: server.url,
      metricsUrl: server.metricsUrl,
      readOnlyToken: server.readOnlyToken,
    } satisfies WorkerReply);
    port.on('message', (request: WorkerRequest) => {
      if (request.type === 'event') view.apply(request.event);
      else
        void server.close().then(() => {
          port.postMessage({ type: 'closed' } satisfies WorkerReply);
          port.close();
        });
    });
  },
  (error: Error) => {
    port.postMessage({ type: 'failed', message: error.message } satisfies WorkerReply);
    port.close();
  },
);
