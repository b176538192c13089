/**
 * The worker's side of the parameter-server protocol: one TCP connection per parameter server;
 * requests on it are answered in order, so several may be in flight. A push goes to every shard at once and resolves when every shard
 * answered with its fresh values, so one step costs one round trip.
 */
import { connect, type Socket } from 'node:net';
import { CancelledError, MillraceTimeoutError, PeerDiedError, ProtocolError } from '@millrace/core';
import {
  encodeFrame,
  type Frame,
  float32Bytes,
  float64,
  MessageType,
  readFloat32,
  readFrames,
} from './wire.js';

export interface ShardValues {
  step: number;
  /** The input position of the asking worker that this shard's newest durable checkpoint holds. */
  checkpointed: number;
  values: Float32Array;
}

/** A shard's values and the input positions (by worker name) they hold, taken at one instant. */
export interface ShardState {
  step: number;
  positions: Record<string, number>;
  values: Float32Array;
}

/** One TCP connection to a parameter server; the prediction client shares it with training. */
export class ShardConnection {
  readonly #socket: Socket;
  readonly address: string;
  /** Requests in flight, answered in order (TCP keeps the order, the ps answers each in turn). */
  readonly #waiting: { resolve: (frame: Frame) => void; reject: (error: Error) => void }[] = [];
  #closedError: Error | undefined;

  constructor(socket: Socket, address: string) {
    this.#socket = socket;
    this.address = address;
    socket.setNoDelay(true);
    readFrames(
      socket,
      (frame) => {
        const waiting = this.#waiting.shift();
        if (!waiting) return;
        if (frame.type === MessageType.error) {
          waiting.reject(new ProtocolError(`parameter server ${address}: ${frame.body.toString('utf8')}`));
        } else {
          waiting.resolve(frame);
        }
      },
      (error) => this.#fail(error),
    );
    socket.on('close', () =>
      this.#fail(new PeerDiedError(`parameter server ${address} closed the connection`)),
    );
    socket.on('error', (error) =>
      this.#fail(new PeerDiedError(`parameter server ${address}: ${error.message}`)),
    );
  }

  #fail(error: Error): void {
    this.#closedError ??= error;
    for (const waiting of this.#waiting.splice(0)) waiting.reject(error);
  }

  request(frame: Buffer, expect: number): Promise<Frame> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    return new Promise<Frame>((resolve, reject) => {
      this.#waiting.push({
        resolve: (reply) =>
          reply.type === expect
            ? resolve(reply)
            : reject(
                new ProtocolError(
                  `parameter server ${this.address} answered type ${reply.type}, expected ${expect}`,
                ),
              ),
        reject,
      });
      this.#socket.write(frame);
    });
  }

  send(frame: Buffer): void {
    if (!this.#closedError) this.#socket.write(frame);
  }

  close(): void {
    this.#socket.end();
  }

  /** Drops the connection at once: every request in flight rejects with a PeerDiedError. */
  destroy(): void {
    this.#socket.destroy();
  }
}

function connectOnce(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Connects, retrying refused connections until `timeoutMs` (a parameter server may start later). */
async function connectWithRetry(address: string, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  const [host, portText] = splitAddress(address);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new CancelledError(`stopped while connecting to parameter server ${address}`);
    try {
      return await connectOnce(host, Number(portText));
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new MillraceTimeoutError(
    `parameter server ${address}`,
    timeoutMs,
    `last error: ${(lastError as Error | undefined)?.message ?? 'none'}`,
  );
}

/**
 * Connects and says HELLO until a parameter server answers WELCOME. A connection that is refused,
 * reset or silent during the handshake is retried until `connectTimeoutMs`: the ps may not have
 * started yet, or the port may still be held by the node agent's reservation.
 */
export async function handshake(
  address: string,
  hello: Buffer,
  options: Pick<ParameterServerClientOptions, 'connectTimeoutMs' | 'signal'>,
): Promise<{ shard: ShardConnection; welcome: Frame }> {
  const deadline = Date.now() + options.connectTimeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const socket = await connectWithRetry(address, Math.max(1, deadline - Date.now()), options.signal);
    const shard = new ShardConnection(socket, address);
    let timer: NodeJS.Timeout | undefined;
    try {
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new MillraceTimeoutError(`WELCOME from ${address}`, handshakeTimeoutMs)),
          handshakeTimeoutMs,
        );
      });
      const welcome = await Promise.race([shard.request(hello, MessageType.welcome), silent]);
      return { shard, welcome };
    } catch (error) {
      // A model mismatch is final; anything else may be a ps that is not ready yet.
      if (error instanceof ProtocolError) throw error;
      lastError = error;
      shard.close();
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      clearTimeout(timer);
    }
  }
  throw new MillraceTimeoutError(
    `parameter server ${address}`,
    options.connectTimeoutMs,
    `last error: ${(lastError as Error | undefined)?.message ?? 'none'}`,
  );
}

const handshakeTimeoutMs = 2_000;

function splitAddress(address: string): [string, string] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), address.slice(at + 1)];
}

export interface ParameterServerClientOptions {
  /** `host:port` of each parameter server, by shard. */
  addresses: readonly string[];
  worker: number;
  /** `<role>-<index>`: the key of this worker's input positions on the parameter servers. */
  name?: string | undefined;
  fingerprint: string;
  connectTimeoutMs: number;
  signal?: AbortSignal | undefined;
}

export class ParameterServerClient {
  readonly #shards: ShardConnection[];
  readonly startStep: number;
  /**
   * Per shard, the input position of this worker that the shard's values held when it connected:
   * a restarted worker's records up to there are in the model already and must not be pushed again.
   */
  readonly heldPositions: readonly number[];

  private constructor(shards: ShardConnection[], startStep: number, heldPositions: number[]) {
    this.#shards = shards;
    this.startStep = startStep;
    this.heldPositions = heldPositions;
  }

  static async connect(options: ParameterServerClientOptions): Promise<ParameterServerClient> {
    const hello = encodeFrame(
      MessageType.hello,
      Buffer.from(
        JSON.stringify({
          worker: options.worker,
          name: options.name ?? `worker-${options.worker}`,
          fingerprint: options.fingerprint,
        }),
      ),
    );
    const shards: ShardConnection[] = [];
    const heldPositions: number[] = [];
    let startStep = 0;
    try {
      for (const [index, address] of options.addresses.entries()) {
        const { shard, welcome } = await handshake(address, hello, options);
        shards.push(shard);
        const body = JSON.parse(welcome.body.toString('utf8')) as { step: number; position?: number };
        if (index === 0) startStep = body.step;
        heldPositions.push(body.position ?? 0);
      }
      return new ParameterServerClient(shards, startStep, heldPositions);
    } catch (error) {
      for (const shard of shards) shard.close();
      throw error;
    }
  }

  /** Current values of every shard. */
  async pull(): Promise<ShardValues[]> {
    const pull = encodeFrame(MessageType.pull);
    const replies = await Promise.all(this.#shards.map((shard) => shard.request(pull, MessageType.values)));
    return replies.map(decodeValues);
  }

  /**
   * Pushes each shard its gradients for a batch that ends at input `position`; resolves with each
   * shard's values after applying them. A shard whose gradients are `undefined` already holds the
   * batch: it only records the position.
   */
  async push(
    gradients: readonly (Float32Array | undefined)[],
    baseSteps: readonly number[],
    samples: number,
    position = 0,
  ): Promise<ShardValues[]> {
    const none = new Uint8Array(0);
    const replies = await Promise.all(
      this.#shards.map((shard, index) => {
        const shardGradients = gradients[index];
        return shard.request(
          encodeFrame(
            MessageType.push,
            float64(baseSteps[index]!),
            float64(samples),
            float64(position),
            shardGradients ? float32Bytes(shardGradients) : none,
          ),
          MessageType.values,
        );
      }),
    );
    return replies.map(decodeValues);
  }

  /** Each shard's values with the input positions they hold, for a checkpoint. */
  async snapshot(): Promise<ShardState[]> {
    const snapshot = encodeFrame(MessageType.snapshot);
    const replies = await Promise.all(
      this.#shards.map((shard) => shard.request(snapshot, MessageType.state)),
    );
    return replies.map((frame) => {
      const length = frame.body.readUInt32LE(8);
      const { positions } = JSON.parse(frame.body.subarray(12, 12 + length).toString('utf8')) as {
        positions: Record<string, number>;
      };
      return { step: frame.body.readDoubleLE(0), positions, values: readFloat32(frame.body, 12 + length) };
    });
  }

  /**
   * Tells each shard that a durable checkpoint holds its values up to `positions[shard]`; workers
   * learn it in their next VALUES and acknowledge it.
   */
  checkpointed(positions: readonly Readonly<Record<string, number>>[]): void {
    for (const [index, shard] of this.#shards.entries()) {
      const body = Buffer.from(JSON.stringify({ positions: positions[index] ?? {} }));
      shard.send(encodeFrame(MessageType.checkpointed, body));
    }
  }

  /**
   * Tells every shard this worker pushes no more (sync mode stops waiting for it). Resolves with
   * how many workers parameter server 0 still counts as active: 0 means this worker was the last.
   */
  async leave(): Promise<number> {
    const leave = encodeFrame(MessageType.leave);
    const replies = await Promise.all(this.#shards.map((shard) => shard.request(leave, MessageType.left)));
    return (JSON.parse(replies[0]!.body.toString('utf8')) as { remaining: number }).remaining;
  }

  close(): void {
    for (const shard of this.#shards) shard.close();
  }
}

function decodeValues(frame: Frame): ShardValues {
  return {
    step: frame.body.readDoubleLE(0),
    checkpointed: frame.body.readDoubleLE(8),
    values: readFloat32(frame.body, 16),
  };
}
