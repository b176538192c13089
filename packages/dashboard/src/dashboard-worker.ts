/**
 * The dashboard's own thread: a {@link JobView} and the HTTP server, fed by messages from the
 * thread that runs the job. A pipeline can hold its thread for seconds (model compilation, a
 * tight operator loop); served from here, the page, its event stream and `/metrics` keep
 * answering meanwhile, and the job's clock keeps moving.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { type DashboardServerOptions, startDashboardServer } from './dashboard-server.js';
import { JobView, type JobViewEvent } from './job-view.js';

export type WorkerRequest =
  | { type: 'event'; event: JobViewEvent }
  /** Another source of events (another thread's status reads) that talks to this view directly. */
  | { type: 'port'; port: MessagePort }
  | { type: 'close' };
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
    const sources: MessagePort[] = [];
    port.on('message', (request: WorkerRequest) => {
      if (request.type === 'event') view.apply(request.event);
      else if (request.type === 'port') {
        sources.push(request.port);
        request.port.on('message', (event: JobViewEvent) => view.apply(event));
      } else {
        for (const source of sources) source.close();
        void server.close().then(() => {
          port.postMessage({ type: 'closed' } satisfies WorkerReply);
          port.close();
        });
      }
    });
  },
  (error: Error) => {
    port.postMessage({ type: 'failed', message: error.message } satisfies WorkerReply);
    port.close();
  },
);
