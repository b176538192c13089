/**
 * A prediction worker's side of the prediction shards (prediction-shard.ts): one connection per
 * parameter server, made and remade with the training client's handshake (ps-client.ts), so a
 * shard that is killed and restarted is reached again within `connectTimeoutMs` or the worker
 * fails with a MillraceTimeoutError; nothing waits forever.
 *
 * A fetch never mixes versions: every shard is asked for the same version, and a shard that does
 * not hold it (it moved on, or it was restarted and loaded a newer one) answers `served: false`
 * with the versions it holds; the caller then picks again and asks again.
 */
import { MillraceError, MillraceTimeoutError } from '@millrace/core';
import { handshake, type ShardConnection } from './ps-client.js';
import { encodeFrame, type Frame, float64, MessageType, readFloat32 } from './wire.js';

export interface PredictionClientOptions {
  /** `host:port` of each parameter server, by shard. */
  addresses: readonly string[];
  worker: number;
  fingerprint: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Told each time a shard is reconnected (after it died or went silent). */
  onReconnect?: ((shard: number, reason: string) => void) | undefined;
}

export interface ShardFetch {
  /** False when the shard does not hold the asked version; then no values came. */
  served: boolean;
  /** Versions the shard holds, ascending. */
  held: number[];
  /** The values after the header: dense values (when asked) then the rows. */
  values: Float32Array;
}

export class PredictionClient {
  readonly #options: PredictionClientOptions;
  /** Where each shard is now: the cluster spec's, updated when a restarted one moved. */
  #addresses: string[];
  readonly #hello: Buffer;
  /** Per shard, its connection once {@link open} made it. */
  readonly #shards: (ShardConnection | undefined)[];
  /** Per shard, the versions it said it holds in its latest answer. */
  readonly #held: number[][];

  constructor(options: PredictionClientOptions) {
    this.#options = options;
    this.#addresses = [...options.addresses];
    this.#hello = encodeFrame(
      MessageType.hello,
      Buffer.from(JSON.stringify({ worker: options.worker, fingerprint: options.fingerprint })),
    );
    this.#shards = options.addresses.map(() => undefined);
    this.#held = options.addresses.map(() => []);
  }

  /**
   * Connects to every shard, each bounded by `connectTimeoutMs`. A shard that restarted while this
   * worker was starting is found at the address a later spec gave it ({@link useAddresses}), so
   * subscribe to specs before opening.
   */
  async open(): Promise<void> {
    try {
      for (let shard = 0; shard < this.#shards.length; shard++) await this.#connect(shard);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The newest version every shard said it holds, or undefined when they share none. */
  newestCommonVersion(): number | undefined {
    const [first = [], ...rest] = this.#held;
    return first.filter((version) => rest.every((held) => held.includes(version))).at(-1);
  }

  /** Asks every shard which versions it holds (used while they share none). */
  async refresh(): Promise<void> {
    await this.fetch(
      -1,
      this.#shards.map(() => new Uint32Array(0)),
      false,
    );
  }

  /**
   * Asks each shard for `version`'s rows `rowsByShard[shard]` (and its dense values when
   * `withDense`). A shard that died or went silent is reconnected (bounded by `connectTimeoutMs`)
   * and its answer is `served: false`, so the caller asks again with what it then holds.
   */
  fetch(version: number, rowsByShard: readonly Uint32Array[], withDense: boolean): Promise<ShardFetch[]> {
    return Promise.all(
      this.#shards.map(async (_, shard) => {
        const rows = rowsByShard[shard]!;
        const count = Buffer.allocUnsafe(5);
        count.writeUInt8(withDense ? 1 : 0, 0);
        count.writeUInt32LE(rows.length, 1);
        const request = encodeFrame(
          MessageType.fetch,
          float64(version),
          count,
          new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength),
        );
        let reply: Frame;
        try {
          reply = await this.#request(shard, request);
        } catch (error) {
          if (!isConnectionLoss(error)) throw error;
          await this.#reconnect(shard, (error as Error).message);
          return { served: false, held: this.#held[shard]!, values: new Float32Array(0) };
        }
        const length = reply.body.readUInt32LE(0);
        const header = JSON.parse(reply.body.subarray(4, 4 + length).toString('utf8')) as {
          held: number[];
          served: boolean;
        };
        this.#held[shard] = header.held;
        return { ...header, values: readFloat32(reply.body, 4 + length) };
      }),
    );
  }

  /** The shards' addresses in a later cluster spec; a reconnection goes there. */
  useAddresses(addresses: readonly string[]): void {
    if (addresses.length === this.#addresses.length) this.#addresses = [...addresses];
  }

  close(): void {
    for (const shard of this.#shards) shard?.close();
  }

  async #request(shard: number, request: Buffer): Promise<Frame> {
    const connection = this.#shards[shard]!;
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        connection.destroy();
        reject(
          new MillraceTimeoutError(
            `an answer from parameter server ${connection.address}`,
            this.#options.requestTimeoutMs,
          ),
        );
      }, this.#options.requestTimeoutMs);
    });
    try {
      return await Promise.race([connection.request(request, MessageType.fetched), silent]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #reconnect(shard: number, reason: string): Promise<void> {
    this.#shards[shard]?.destroy();
    this.#options.onReconnect?.(shard, reason);
    await this.#connect(shard);
  }

  /**
   * Connects to `shard` until `connectTimeoutMs`, in attempts of at most a second each, so an
   * address that changed meanwhile (a later cluster spec, see {@link useAddresses}) is tried next.
   */
  async #connect(shard: number): Promise<void> {
    const deadline = Date.now() + this.#options.connectTimeoutMs;
    for (;;) {
      const address = this.#addresses[shard]!;
      const remaining = deadline - Date.now();
      try {
        const attempt = {
          connectTimeoutMs: Math.max(1, Math.min(connectAttemptMs, remaining)),
          signal: this.#options.signal,
        };
        const { shard: connection, welcome } = await handshake(address, this.#hello, attempt);
        this.#shards[shard] = connection;
        this.#held[shard] = parseHeld(welcome.body);
        return;
      } catch (error) {
        if (!MillraceError.isInstance(error) || error.code !== 'TIMEOUT') throw error;
        if (Date.now() >= deadline) {
          throw new MillraceTimeoutError(
            `parameter server ${shard} at ${address}`,
            this.#options.connectTimeoutMs,
            error.message,
          );
        }
      }
    }
  }
}

/** A connection's attempt on one address, before it looks whether the address changed. */
const connectAttemptMs = 1_000;

function parseHeld(body: Buffer): number[] {
  return (JSON.parse(body.toString('utf8')) as { held: number[] }).held;
}

/** A dead or silent parameter server (retried), as opposed to a refusal (final). */
function isConnectionLoss(error: unknown): boolean {
  return MillraceError.isInstance(error) && (error.code === 'PEER_DIED' || error.code === 'TIMEOUT');
}
