/**
 * `millrace run`'s board thread: it renders the run (the live board, plain lines or `--json`
 * events) from the events the job's thread sends when it is free, adds a heartbeat once a second,
 * and reads each cluster's status from its AM itself (GetJobStatus, the reader `millrace
 * dashboard --join` uses), so elapsed time, cluster state and node heartbeats keep moving while
 * a pipeline stage holds the job's thread for seconds.
 *
 * It writes to the file descriptors directly: a worker's `process.stdout` is relayed through the
 * main thread, which is exactly the thread that may be busy.
 */
import { writeSync } from 'node:fs';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { ClusterStatusReport } from '@millrace/dashboard';
import { jsonReporter, liveReporter, plainReporter, type ReporterOutput } from './reporters.js';
import type { ApplicationManagerEndpoint, BoardEvent, RunReporter } from './run-events.js';

export type BoardMode = 'json' | 'live' | 'plain';

export interface BoardSettings {
  mode: BoardMode;
  startedAt: number;
  columns?: number | undefined;
}

export type BoardRequest =
  /** `at`: when the job's thread emitted it (it may reach this thread later). */
  | { type: 'event'; event: BoardEvent; at: number }
  /** The job's thread is free (sent every 250 ms): how the board tells that it is busy. */
  | { type: 'alive' }
  | { type: 'columns'; columns: number }
  | { type: 'follow'; endpoint: ApplicationManagerEndpoint }
  /** Where to send each status read as a `cluster-status` event too (the dashboard's thread). */
  | { type: 'share-status'; port: MessagePort }
  | { type: 'close' };

/** How often the heartbeat goes out. */
const heartbeatMs = 1_000;
/** Silence from the job's thread shorter than this is not called busy. */
const busyAfterMs = 1_000;
/** How often a followed AM's status is read. */
const statusReadMs = 500;
/** A followed AM that has not answered for this long is no longer read (the cluster is gone). */
const unreachableBoundMs = 30_000;
/** How long a write may wait for a full pipe (nobody reading stdout) before it is dropped. */
const writeBoundMs = 60_000;

const port = parentPort!;
const settings = workerData as BoardSettings;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `text` to `fd`. The descriptor is non-blocking when it is a pipe, so a full pipe
 * (a slow reader) answers EAGAIN: wait a little and go on, as the main thread's blocking writes
 * would. A reader that is gone (EPIPE) ends the output.
 */
function fdOutput(fd: number, columns?: number): ReporterOutput {
  let closed = false;
  return {
    columns,
    write(text: string) {
      if (closed) return;
      const bytes = Buffer.from(text);
      let offset = 0;
      const deadline = Date.now() + writeBoundMs;
      while (offset < bytes.length) {
        try {
          offset += writeSync(fd, bytes, offset);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'EAGAIN' || Date.now() > deadline) {
            closed = code !== 'EAGAIN';
            return;
          }
          Atomics.wait(pause, 0, 0, 5);
        }
      }
    },
  };
}

const stdout = fdOutput(1, settings.columns);
const stderr = fdOutput(2);
const reporter: RunReporter =
  settings.mode === 'json'
    ? jsonReporter(stdout, stderr)
    : settings.mode === 'live'
      ? liveReporter(stdout, stderr, { startedAt: settings.startedAt })
      : plainReporter(stdout, stderr);

let lastHeardAt = Date.now();
let finished = false;
const following = new AbortController();
const followers: Promise<void>[] = [];
/** Other threads that get every status read (the dashboard's view). */
const statusListeners: MessagePort[] = [];
/** The latest status read of each followed cluster, and when it was made. */
const statuses = new Map<string, { readAt: string; status: ClusterStatusReport }>();

const heartbeat = setInterval(() => {
  const silentMs = Date.now() - lastHeardAt;
  reporter.event({
    type: 'heartbeat',
    elapsedMs: Date.now() - settings.startedAt,
    jobThreadBusyMs: silentMs >= busyAfterMs ? silentMs : undefined,
    clusters: [...statuses].map(([cluster, read]) => ({ cluster, ...read })),
  });
}, heartbeatMs);

/** Reads the cluster's status until it has an outcome, its AM is gone, or the run ends. */
async function follow(endpoint: ApplicationManagerEndpoint): Promise<void> {
  // Loaded on first use: the gRPC client is not needed for runs without a cluster.
  const [{ ApplicationManagerConnection }, { followJobStatus, toClusterStatusReport }] = await Promise.all([
    import('@millrace/runtime'),
    import('../cluster-status-feed.js'),
  ]);
  if (following.signal.aborted) return;
  const connection = new ApplicationManagerConnection({
    address: endpoint.address,
    token: endpoint.token,
    fingerprint: endpoint.fingerprint,
    // A read the AM cannot answer now must not hold up the next one for long.
    callTimeoutMs: 2_000,
  });
  try {
    await followJobStatus({
      connection,
      intervalMs: statusReadMs,
      unreachableBoundMs,
      signal: following.signal,
      onStatus: (status) => {
        const readAt = Date.now();
        const report = toClusterStatusReport(status);
        statuses.set(endpoint.cluster, { readAt: new Date(readAt).toISOString(), status: report });
        for (const listener of statusListeners)
          listener.postMessage({ type: 'cluster-status', cluster: endpoint.cluster, status: report, readAt });
      },
    });
  } finally {
    connection.close();
  }
}

function stopFollowing(): void {
  following.abort();
  clearInterval(heartbeat);
  for (const listener of statusListeners.splice(0)) listener.close();
}

port.on('message', (request: BoardRequest) => {
  lastHeardAt = Date.now();
  switch (request.type) {
    case 'event':
      if (finished) return;
      reporter.event(request.event, request.at);
      // The run's end is the last event: no heartbeat after it.
      if (request.event.type === 'run-finished') {
        finished = true;
        stopFollowing();
      }
      return;
    case 'alive':
      return;
    case 'columns':
      stdout.columns = request.columns;
      return;
    case 'share-status':
      if (finished) request.port.close();
      else statusListeners.push(request.port);
      return;
    case 'follow':
      if (!finished) followers.push(follow(request.endpoint).catch(() => {}));
      return;
    case 'close':
      stopFollowing();
      void Promise.resolve(reporter.close())
        .then(() => Promise.all(followers))
        .finally(() => port.close());
      return;
  }
});
