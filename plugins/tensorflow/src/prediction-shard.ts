/**
 * A parameter server of a prediction cluster: serves its share of a saved model (its rows of the
 * embedding table, its dense variables) to workers over the parameter-server wire (wire.ts,
 * FETCH / FETCHED), for each model version it holds.
 *
 * It holds the current version and the one before: the shards of a cluster load a new version
 * each on its own schedule, and a worker scores a batch with the newest version every shard
 * holds, so keeping the previous one lets workers go on while the slower shards catch up. No
 * batch mixes versions: a worker asks every shard for the same version and a shard that no
 * longer holds it says so (`served: false`) instead of answering with another.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ProtocolError } from '@millrace/core';
import type { ServingShard } from './serving-shard.js';
import { encodeFrame, type Frame, float32Bytes, listenOn, MessageType, serveFrames } from './wire.js';

export interface PredictionShardServerOptions {
  /** Which shard this is, for messages. */
  shard: number;
  /** Shapes of the whole model, compared with each worker's at HELLO. */
  fingerprint: string;
  /** Embedding width (values per table row); 0 without a table. */
  dim: number;
}

/** Versions a shard keeps: the current one and the one before (see the module comment). */
const versionsKept = 2;

export class PredictionShardServer {
  readonly #options: PredictionShardServerOptions;
  readonly #versions = new Map<number, ServingShard>();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #rowsServed = 0;

  constructor(options: PredictionShardServerOptions) {
    this.#options = options;
  }

  /** Starts serving `version`; the oldest held version beyond the two newest is dropped. */
  addVersion(version: number, shard: ServingShard): void {
    this.#versions.set(version, shard);
    for (const old of this.held().slice(0, -versionsKept)) this.#versions.delete(old);
  }

  /** Versions held now, ascending. */
  held(): number[] {
    return [...this.#versions.keys()].sort((a, b) => a - b);
  }

  /** Values this shard holds (every version kept), in bytes. */
  get bytesHeld(): number {
    let bytes = 0;
    for (const shard of this.#versions.values()) bytes += shard.rows.byteLength + shard.dense.byteLength;
    return bytes;
  }

  /** Table rows sent to workers since start. */
  get rowsServed(): number {
    return this.#rowsServed;
  }

  listen(port: number, host: string): Promise<number> {
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    return listenOn(server, port, host);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    const drop = () => this.#sockets.delete(socket);
    socket.on('close', drop);
    socket.on('error', drop);
    serveFrames(socket, (frame) => this.#handle(socket, frame));
  }

  #handle(socket: Socket, frame: Frame): void {
    switch (frame.type) {
      case MessageType.hello: {
        const hello = JSON.parse(frame.body.toString('utf8')) as { worker: number; fingerprint: string };
        if (hello.fingerprint !== this.#options.fingerprint) {
          throw new ProtocolError(
            `worker ${hello.worker} serves a different model than parameter server ${this.#options.shard}: ` +
              `variables ${hello.fingerprint} vs ${this.#options.fingerprint}`,
          );
        }
        socket.write(encodeFrame(MessageType.welcome, Buffer.from(JSON.stringify({ held: this.held() }))));
        return;
      }
      case MessageType.fetch:
        socket.write(this.#fetch(frame.body));
        return;
      default:
        throw new ProtocolError(
          `unexpected message type ${frame.type} at prediction shard ${this.#options.shard}`,
        );
    }
  }

  #fetch(body: Buffer): Buffer {
    const version = body.readDoubleLE(0);
    const withDense = body.readUInt8(8) === 1;
    const count = body.readUInt32LE(9);
    const shard = this.#versions.get(version);
    const header = (served: boolean) => {
      const json = Buffer.from(JSON.stringify({ held: this.held(), served }));
      const length = Buffer.allocUnsafe(4);
      length.writeUInt32LE(json.byteLength, 0);
      return [length, json];
    };
    if (!shard) return encodeFrame(MessageType.fetched, ...header(false));
    const { dim } = this.#options;
    const rows = new Float32Array(count * dim);
    for (let index = 0; index < count; index++) {
      const row = body.readUInt32LE(13 + index * 4);
      if (row < shard.rowStart || row >= shard.rowEnd) {
        throw new ProtocolError(
          `row ${row} asked of prediction shard ${this.#options.shard}, which holds rows ${shard.rowStart} … ${shard.rowEnd - 1}`,
        );
      }
      const from = (row - shard.rowStart) * dim;
      rows.set(shard.rows.subarray(from, from + dim), index * dim);
    }
    this.#rowsServed += count;
    return encodeFrame(
      MessageType.fetched,
      ...header(true),
      withDense ? float32Bytes(shard.dense) : new Uint8Array(0),
      float32Bytes(rows),
    );
  }
}
