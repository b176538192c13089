/**
 * A promise-based client of the ApplicationManager service: every call carries the job token and
 * a deadline, and every failure becomes one of core's typed errors (see `toMillraceError`).
 * Node agents and the CLI's `status` / `stop` commands use it.
 *
 * With a pinned fingerprint (the `ca` of a join URL) the client speaks TLS and trusts exactly the
 * certificate whose SHA-256 is pinned: it first fetches the AM's certificate with a bare TLS
 * handshake (nothing is sent but the handshake), compares the fingerprint, and only then opens the
 * gRPC channel, trusting that certificate and checking the fingerprint again on every connection.
 * A mismatch is a ServerIdentityError and the token is never sent.
 */
import {
  type ChannelCredentials,
  type ClientReadableStream,
  credentials,
  type Metadata,
} from '@grpc/grpc-js';
import { ConfigError, MillraceError, ProtocolError, ServerIdentityError } from '@millrace/core';
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
import { hostOfAddress, isLoopbackHost } from './join-url.js';
import { pinnedChannelOptions, pinnedConnectionCredentials } from './pinned-tls.js';
import { toMillraceError } from './protocol-mapping.js';

export interface ApplicationManagerConnectionOptions {
  /** `host:port` of the AM. */
  address: string;
  token: string;
  /**
   * SHA-256 fingerprint (hex) of the certificate the AM serves: the client speaks TLS and trusts
   * only that certificate. Without it the client speaks plaintext, which it refuses for a
   * non-loopback address unless `insecure` is set.
   */
  fingerprint?: string | undefined;
  /** Allow plaintext to a non-loopback address (the token crosses the network in the clear). */
  insecure?: boolean | undefined;
  /** Deadline of each unary call. Default 5000 ms. */
  callTimeoutMs?: number | undefined;
}

export interface ClusterWatch {
  /** Ends the stream from this side. */
  cancel(): void;
}

export class ApplicationManagerConnection {
  readonly address: string;
  readonly #fingerprint: string | undefined;
  /** The gRPC client, once the AM's identity is checked (at once for plaintext). */
  #client: Promise<ApplicationManagerClient> | undefined;
  #closed = false;
  readonly #metadata: Metadata;
  readonly #callTimeoutMs: number;

  constructor(options: ApplicationManagerConnectionOptions) {
    this.address = options.address;
    this.#fingerprint = options.fingerprint?.toLowerCase();
    if (!this.#fingerprint && !options.insecure && !isLoopbackHost(hostOfAddress(options.address))) {
      throw new ConfigError(
        [
          {
            path: 'am',
            message: `${options.address} is not a loopback address, and without the AM's certificate fingerprint the job token would cross the network unverified and in the clear: use the join URL \`millrace am\` printed (it pins the certificate), or --insecure to send it in plaintext anyway`,
          },
        ],
        { subject: 'options' },
      );
    }
    this.#metadata = tokenMetadata(options.token);
    this.#callTimeoutMs = options.callTimeoutMs ?? 5_000;
  }

  /** The client, created on first use: for TLS only after the pinned certificate was fetched and matched. */
  #connected(): Promise<ApplicationManagerClient> {
    this.#client ??= this.#connect();
    // A failed identity check is retried by the next call (the AM may not be up yet), unless it
    // was a mismatch, which is final.
    this.#client.catch((error: unknown) => {
      if (!(error instanceof ServerIdentityError)) this.#client = undefined;
    });
    return this.#client;
  }

  async #connect(): Promise<ApplicationManagerClient> {
    const channelOptions = {
      // Loopback clusters reconnect fast after an AM restart; the default backoff waits seconds.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      // Nothing reads channelz's per-call bookkeeping (see the AM's server options).
      'grpc.enable_channelz': 0,
    };
    let channelCredentials: ChannelCredentials = credentials.createInsecure();
    let extraOptions = {};
    if (this.#fingerprint) {
      channelCredentials = await pinnedConnectionCredentials({
        address: this.address,
        fingerprint: this.#fingerprint,
        timeoutMs: this.#callTimeoutMs,
      });
      extraOptions = pinnedChannelOptions;
    }
    if (this.#closed)
      throw new MillraceError('PROTOCOL', 'the connection to the application manager is closed');
    return new ApplicationManagerClient(this.address, channelCredentials, {
      ...channelOptions,
      ...extraOptions,
    });
  }

  registerNode(request: RegisterNodeRequest): Promise<RegisterNodeResponse> {
    return this.#unary(
      (client, callback) => client.registerNode(request, this.#metadata, this.#options(), callback),
      request.generation,
    );
  }

  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.#unary(
      (client, callback) => client.heartbeat(request, this.#metadata, this.#options(), callback),
      request.generation,
    );
  }

  reportStatus(request: ReportStatusRequest): Promise<ReportStatusResponse> {
    return this.#unary(
      (client, callback) => client.reportStatus(request, this.#metadata, this.#options(), callback),
      request.generation,
    );
  }

  /** The job's status; `observer` names the caller (the AM remembers who read the outcome). */
  getJobStatus(observer = ''): Promise<JobStatus> {
    return this.#unary((client, callback) =>
      client.getJobStatus({ observer }, this.#metadata, this.#options(), callback),
    );
  }

  stopJob(reason: string): Promise<StopJobResponse> {
    return this.#unary((client, callback) =>
      client.stopJob({ reason }, this.#metadata, this.#options(), callback),
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
    let stream: ClientReadableStream<ClusterEvent> | undefined;
    let cancelled = false;
    let ended = false;
    const end = (error?: MillraceError) => {
      if (ended || cancelled) return;
      ended = true;
      handlers.onEnd(error);
    };
    this.#connected().then(
      (client) => {
        if (cancelled) return;
        stream = client.watchCluster(request, this.#metadata);
        stream.on('data', (event: ClusterEvent) => {
          if (!cancelled) handlers.onEvent(event);
        });
        stream.on('error', (error) => end(toMillraceError(error, this.address, request.generation)));
        stream.on('end', () => end());
      },
      (error: unknown) => end(asMillraceError(error, this.address)),
    );
    return {
      cancel: () => {
        cancelled = true;
        stream?.cancel();
      },
    };
  }

  close(): void {
    this.#closed = true;
    this.#client?.then(
      (client) => client.close(),
      () => {},
    );
  }

  #options() {
    return { deadline: Date.now() + this.#callTimeoutMs };
  }

  async #unary<T>(
    call: (client: ApplicationManagerClient, callback: (error: Error | null, value?: T) => void) => unknown,
    generation?: number,
  ): Promise<T> {
    let client: ApplicationManagerClient;
    try {
      client = await this.#connected();
    } catch (error) {
      throw asMillraceError(error, this.address);
    }
    return new Promise<T>((resolve, reject) => {
      call(client, (error, value) => {
        if (error) reject(toMillraceError(error, this.address, generation));
        else resolve(value as T);
      });
    });
  }
}

/**
 * Errors from before the gRPC channel exists: a ServerIdentityError stays itself; an unreachable AM
 * becomes what gRPC reports for one (a ProtocolError without detail), which callers retry.
 */
function asMillraceError(error: unknown, address: string): MillraceError {
  if (MillraceError.isInstance(error)) return error;
  return new ProtocolError(
    `application manager at ${address}: ${(error as Error)?.message ?? String(error)}`,
    {
      cause: error,
    },
  );
}
