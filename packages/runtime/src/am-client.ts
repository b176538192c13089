/**
 * A promise-based client of the ApplicationManager service: every call carries the job token and
 * a deadline, and every failure becomes one of core's typed errors (see `toMillraceError`).
 * Node agents and the CLI's `status` / `stop` commands use it.
 */
import { type ClientReadableStream, credentials, type Metadata } from '@grpc/grpc-js';
import type { MillraceError } from '@millrace/core';
import {
  ApplicationManagerClient,
  type ClusterEvent,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type JobStatus,
  type RegisterNodeRequest,
  type RegisterNodeResponse,
  type ReportStatusRequest,
  type ReportStatusResponse,
  type StopJobResponse,
  tokenMetadata,
  type WatchClusterRequest,
} from '@millrace/protocol';
import { toMillraceError } from './protocol-mapping.js';

export interface ApplicationManagerConnectionOptions {
  /** `host:port` of the AM. */
  address: string;
  token: string;
  /** Deadline of each unary call. Default 5000 ms. */
  callTimeoutMs?: number | undefined;
}

export interface ClusterWatch {
  /** Ends the stream from this side. */
  cancel(): void;
}

export class ApplicationManagerConnection {
  readonly address: string;
  readonly #client: ApplicationManagerClient;
  readonly #metadata: Metadata;
  readonly #callTimeoutMs: number;

  constructor(options: ApplicationManagerConnectionOptions) {
    this.address = options.address;
    this.#client = new ApplicationManagerClient(options.address, credentials.createInsecure(), {
      // Loopback clusters reconnect fast after an AM restart; the default backoff waits seconds.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
    });
    this.#metadata = tokenMetadata(options.token);
    this.#callTimeoutMs = options.callTimeoutMs ?? 5_000;
  }

  registerNode(request: RegisterNodeRequest): Promise<RegisterNodeResponse> {
    return this.#unary(
      (callback) => this.#client.registerNode(request, this.#metadata, this.#options(), callback),
      request.generation,
    );
  }

  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.#unary(
      (callback) => this.#client.heartbeat(request, this.#metadata, this.#options(), callback),
      request.generation,
    );
  }

  reportStatus(request: ReportStatusRequest): Promise<ReportStatusResponse> {
    return this.#unary(
      (callback) => this.#client.reportStatus(request, this.#metadata, this.#options(), callback),
      request.generation,
    );
  }

  getJobStatus(): Promise<JobStatus> {
    return this.#unary((callback) =>
      this.#client.getJobStatus({}, this.#metadata, this.#options(), callback),
    );
  }

  stopJob(reason: string): Promise<StopJobResponse> {
    return this.#unary((callback) =>
      this.#client.stopJob({ reason }, this.#metadata, this.#options(), callback),
    );
  }

  /**
   * Opens the WatchCluster stream. `onEvent` gets each event; `onEnd` is called once when the
   * stream ends for any reason other than `cancel()` (with the error, if it failed).
   */
  watchCluster(
    request: WatchClusterRequest,
    handlers: { onEvent(event: ClusterEvent): void; onEnd(error?: MillraceError): void },
  ): ClusterWatch {
    const stream: ClientReadableStream<ClusterEvent> = this.#client.watchCluster(request, this.#metadata);
    let cancelled = false;
    let ended = false;
    const end = (error?: MillraceError) => {
      if (ended || cancelled) return;
      ended = true;
      handlers.onEnd(error);
    };
    stream.on('data', (event: ClusterEvent) => {
      if (!cancelled) handlers.onEvent(event);
    });
    stream.on('error', (error) => end(toMillraceError(error, this.address, request.generation)));
    stream.on('end', () => end());
    return {
      cancel: () => {
        cancelled = true;
        stream.cancel();
      },
    };
  }

  close(): void {
    this.#client.close();
  }

  #options() {
    return { deadline: Date.now() + this.#callTimeoutMs };
  }

  #unary<T>(
    call: (callback: (error: Error | null, value?: T) => void) => unknown,
    generation?: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      call((error, value) => {
        if (error) reject(toMillraceError(error, this.address, generation));
        else resolve(value as T);
      });
    });
  }
}
