/**
 * A parameter server: holds one shard of the model's trainable variables (one flat Float32Array)
 * and applies the gradients workers push with the configured optimizer (TF.js's update rules,
 * see flat-optimizer.ts).
 *
 * - async: each push is applied at once and answered with the fresh values.
 * - sync: pushes for the current step are held until one gradient per active worker has
 *   arrived (TensorFlow's SyncReplicasOptimizer); their mean is applied once and every held push
 *   is answered. A gradient computed on older values is stale and dropped (answered with the
 *   current values). A worker that leaves or disconnects stops counting, so nobody waits on it.
 *
 * Input positions: each push says where in its worker's input stream its batch ends; the shard
 * records that position when it applies the gradient, so its values hold exactly that worker's
 * records 1 … position. A snapshot returns values and positions together (one event-loop turn:
 * nothing is applied in between), so a checkpoint knows what it holds. A worker that says HELLO
 * again (restarted) replaces its old connection: whatever the dead one had left unread is
 * discarded, never applied after the restarted worker was told its position.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ProtocolError } from '@millrace/core';
import { createFlatOptimizer, type FlatOptimizer } from './flat-optimizer.js';
import type { TrainingOptions } from './training-options.js';
import {
  encodeFrame,
  type Frame,
  float32Bytes,
  float64,
  listenOn,
  MessageType,
  readFloat32,
  serveFrames,
} from './wire.js';

export interface ParameterServerOptions {
  /** Initial values of the shard's variables, in shard order. */
  values: readonly Float32Array[];
  shapes: readonly (readonly number[])[];
  optimizer: TrainingOptions['optimizer'];
  learningRate: number;
  mode: 'async' | 'sync';
  /** Sync mode: gradients aggregated per step (normally the number of workers). */
  replicas: number;
  /** Global step to start from (the checkpoint's step after a restart). */
  step: number;
  /** Shapes of the whole model, compared with each worker's at HELLO. */
  fingerprint: string;
  /** Which shard this is, for messages. */
  shard: number;
  /**
   * Input positions the initial values hold, by worker name (`<role>-<index>`): the checkpoint's
   * after a restart. They count as applied and as durably checkpointed.
   */
  positions?: Readonly<Record<string, number>> | undefined;
}

interface Connection {
  socket: Socket;
  worker: number;
  /** `<role>-<index>` of the worker, the key of its input positions. */
  name: string;
  active: boolean;
}

/** A push waiting for its sync step (`samples` 0 when the shard already held the batch). */
interface PendingPush {
  connection: Connection;
  samples: number;
  position: number;
}

export class ParameterServer {
  readonly #options: ParameterServerOptions;
  readonly #values: Float32Array;
  readonly #optimizer: FlatOptimizer;
  readonly #totalSize: number;
  readonly #connections = new Set<Connection>();
  #server: Server | undefined;
  #step: number;
  /** Sync mode: the gradient sum and the pushes waiting for this step to complete. */
  #pending: PendingPush[] = [];
  #sum: Float32Array | undefined;
  #contributions = 0;
  #applied = 0;
  /** Per worker name: the input position whose records these values hold. */
  readonly #positions = new Map<string, number>();
  /** Per worker name: the position the newest durable checkpoint of this shard holds. */
  readonly #checkpointed = new Map<string, number>();
  /** Workers that left (finished or disconnected); sync steps stop waiting for them. */
  readonly #departed = new Set<number>();
  #samples = 0;

  constructor(options: ParameterServerOptions) {
    this.#options = options;
    this.#step = options.step;
    const sizes = options.shapes.map((shape) => shape.reduce((product, dimension) => product * dimension, 1));
    this.#totalSize = sizes.reduce((sum, size) => sum + size, 0);
    this.#values = new Float32Array(this.#totalSize);
    let offset = 0;
    options.values.forEach((values, index) => {
      if (values.length !== sizes[index]) {
        throw new RangeError(
          `variable ${index} has ${values.length} values for shape [${options.shapes[index]}]`,
        );
      }
      this.#values.set(values, offset);
      offset += values.length;
    });
    this.#optimizer = createFlatOptimizer(options.optimizer, options.learningRate, this.#totalSize);
    for (const [name, position] of Object.entries(options.positions ?? {})) {
      this.#positions.set(name, position);
      this.#checkpointed.set(name, position);
    }
  }

  /** The input positions the current values hold, by worker name. */
  positions(): Record<string, number> {
    return Object.fromEntries(this.#positions);
  }

  get step(): number {
    return this.#step;
  }

  /** Gradient updates applied since start, and samples they covered. */
  get stats(): { updates: number; samples: number } {
    return { updates: this.#applied, samples: this.#samples };
  }

  /** Starts serving on `port` (0 for any) of `host`; resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    return listenOn(server, port, host);
  }

  async close(): Promise<void> {
    for (const connection of this.#connections) connection.socket.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  /** Current values, concatenated in shard order (a copy). */
  values(): Float32Array {
    return Float32Array.from(this.#values);
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    const connection: Connection = { socket, worker: -1, name: '', active: false };
    this.#connections.add(connection);
    const drop = () => {
      if (!this.#connections.delete(connection)) return;
      this.#leave(connection);
    };
    socket.on('close', drop);
    socket.on('error', drop);
    serveFrames(socket, (frame) => this.#handle(connection, frame));
  }

  #handle(connection: Connection, frame: Frame): void {
    switch (frame.type) {
      case MessageType.hello: {
        const hello = JSON.parse(frame.body.toString('utf8')) as {
          worker: number;
          name?: string;
          fingerprint: string;
        };
        if (hello.fingerprint !== this.#options.fingerprint) {
          throw new ProtocolError(
            `worker ${hello.worker} has a different model than parameter server ${this.#options.shard}: ` +
              `variables ${hello.fingerprint} vs ${this.#options.fingerprint}`,
          );
        }
        connection.worker = hello.worker;
        connection.name = hello.name ?? `worker-${hello.worker}`;
        this.#replaceEarlierConnections(connection);
        connection.active = true;
        this.#departed.delete(hello.worker);
        const welcome = {
          step: this.#step,
          variables: this.#options.shapes.length,
          position: this.#positions.get(connection.name) ?? 0,
        };
        connection.socket.write(encodeFrame(MessageType.welcome, Buffer.from(JSON.stringify(welcome))));
        return;
      }
      case MessageType.pull:
        this.#sendValues(connection);
        return;
      case MessageType.push:
        this.#push(connection, frame.body);
        return;
      case MessageType.snapshot: {
        const positions = Buffer.from(JSON.stringify({ positions: this.positions() }));
        const length = Buffer.allocUnsafe(4);
        length.writeUInt32LE(positions.byteLength, 0);
        connection.socket.write(
          encodeFrame(MessageType.state, float64(this.#step), length, positions, float32Bytes(this.#values)),
        );
        return;
      }
      case MessageType.checkpointed: {
        const { positions } = JSON.parse(frame.body.toString('utf8')) as {
          positions: Record<string, number>;
        };
        for (const [name, position] of Object.entries(positions)) {
          if (position > (this.#checkpointed.get(name) ?? 0)) this.#checkpointed.set(name, position);
        }
        return;
      }
      case MessageType.leave: {
        this.#leave(connection);
        const remaining = [...this.#connections].filter((other) => other.active).length;
        connection.socket.write(encodeFrame(MessageType.left, Buffer.from(JSON.stringify({ remaining }))));
        return;
      }
      default:
        throw new ProtocolError(`unexpected message type ${frame.type} from worker ${connection.worker}`);
    }
  }

  /**
   * A restarted worker's HELLO: its earlier connection (the dead process's) stops counting and is
   * closed, so a push it left unread can never be applied after the new one learnt its position.
   */
  #replaceEarlierConnections(current: Connection): void {
    for (const other of this.#connections) {
      if (other === current || other.name !== current.name) continue;
      this.#connections.delete(other);
      other.active = false;
      other.socket.destroy();
    }
  }

  #push(connection: Connection, body: Buffer): void {
    const baseStep = body.readDoubleLE(0);
    const samples = body.readDoubleLE(8);
    const position = body.readDoubleLE(16);
    const gradients = readFloat32(body, 24);
    // No gradient values: this shard already holds the batch (the worker replays records its
    // earlier process pushed); only the position moves, so nothing is applied twice. (A shard
    // that holds no variables always gets empty gradients, and steps as before.)
    const held = gradients.length === 0 && this.#totalSize > 0;
    if (!held && gradients.length !== this.#totalSize) {
      throw new ProtocolError(
        `worker ${connection.worker} pushed ${gradients.length} gradient values; shard ${this.#options.shard} holds ${this.#totalSize}`,
      );
    }
    if (this.#options.mode === 'async') {
      if (!held) this.#apply(gradients, samples);
      this.#advance(connection.name, position);
      this.#sendValues(connection);
      return;
    }
    if (baseStep < this.#step) {
      // Stale: computed on values older than the current step. Drop it; the worker catches up.
      this.#sendValues(connection);
      return;
    }
    if (!held) {
      if (!this.#sum) this.#sum = gradients;
      else for (let i = 0; i < gradients.length; i++) this.#sum[i]! += gradients[i]!;
      this.#contributions += 1;
    }
    this.#pending.push({ connection, samples: held ? 0 : samples, position });
    this.#releaseIfComplete();
  }

  #advance(name: string, position: number): void {
    if (position > (this.#positions.get(name) ?? 0)) this.#positions.set(name, position);
  }

  #releaseIfComplete(): void {
    if (this.#pending.length === 0) return;
    // Wait for every replica, not only the connected ones: a worker that has not connected yet
    // still owes this step its gradient. Only workers that left stop counting.
    const needed = Math.max(1, this.#options.replicas - this.#departed.size);
    if (this.#pending.length < needed) return;
    const sum = this.#sum;
    const count = this.#contributions;
    const samples = this.#pending.reduce((total, push) => total + push.samples, 0);
    if (sum) {
      for (let i = 0; i < sum.length; i++) sum[i]! /= count;
      this.#apply(sum, samples);
    } else {
      // Every push of this step was a batch the shard already held: the step completes empty.
      this.#step += 1;
    }
    const waiting = this.#pending;
    for (const push of waiting) this.#advance(push.connection.name, push.position);
    this.#pending = [];
    this.#sum = undefined;
    this.#contributions = 0;
    for (const push of waiting) if (!push.connection.socket.destroyed) this.#sendValues(push.connection);
  }

  #leave(connection: Connection): void {
    if (!connection.active) return;
    connection.active = false;
    this.#departed.add(connection.worker);
    if (this.#options.mode === 'sync') this.#releaseIfComplete();
  }

  #apply(gradients: Float32Array, samples: number): void {
    this.#optimizer.apply(this.#values, gradients);
    this.#step += 1;
    this.#applied += 1;
    this.#samples += samples;
  }

  #sendValues(connection: Connection): void {
    connection.socket.write(
      encodeFrame(
        MessageType.values,
        float64(this.#step),
        float64(this.#checkpointed.get(connection.name) ?? 0),
        float32Bytes(this.#values),
      ),
    );
  }
}
