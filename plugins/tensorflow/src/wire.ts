/**
 * The worker ↔ parameter-server protocol: length-prefixed binary frames over TCP.
 *
 * ```
 * frame   := u32le length (of type + body) | u8 type | body
 * HELLO    := utf8 JSON { worker, name, fingerprint }               worker → ps
 * WELCOME  := utf8 JSON { step, variables, position }                ps → worker
 * PULL     := (empty)                                                worker → ps
 * VALUES   := f64le step | f64le checkpointed | f32le shard values   ps → worker
 * PUSH     := f64le baseStep | f64le samples | f64le position        worker → ps (answered by VALUES)
 *             | f32le gradients (none: the shard already holds this batch; only the position moves)
 * LEAVE    := (empty)                                                worker → ps: no more pushes from me
 * LEFT     := utf8 JSON { remaining }                                ps → worker: workers still active
 * ERROR    := utf8 message                                           ps → worker
 * SNAPSHOT := (empty)                                                saver → ps
 * STATE    := f64le step | u32le n | n bytes utf8 JSON { positions } saver ← ps: values and the input
 *             | f32le shard values                                   positions they hold, taken at once
 * CHECKPOINTED := utf8 JSON { positions }                            saver → ps: a durable checkpoint
 *             holds this shard's values up to these positions (no answer)
 * ```
 *
 * A prediction cluster's parameter servers (prediction-shard.ts) answer HELLO and two more:
 *
 * ```
 * FETCH    := f64le version (-1: only say which versions are held)  worker → ps
 *             | u8 withDense | u32le n | n × u32le table rows (ids in this shard's row range)
 * FETCHED  := u32le m | m bytes utf8 JSON { held, served }           ps → worker
 *             | f32le dense values of this shard (withDense and served)
 *             | f32le n rows of the embedding table (served)
 * ```
 *
 * `held` lists the model versions the shard can serve (ascending); `served` is false when the
 * asked version is not among them, and then no values follow.
 *
 * Input positions (records of a worker's input stream, counted from 1 across restarts, keyed by
 * the worker's `<role>-<index>`): a PUSH carries the position its batch ends at, and the shard
 * records it when the gradient is applied, so a shard always knows which records its values hold.
 * WELCOME tells a (re)starting worker that position, VALUES the position of the newest durable
 * checkpoint of this shard for the worker that asked: the worker acknowledges what every shard's
 * durable checkpoint holds.
 *
 * A parameter server answers a connection's requests in the order they came (TCP keeps it), so
 * responses need no ids and a worker may have several in flight. Gradients and values travel
 * as one frame per step for the whole shard: the exchange is batched, never per sample or per
 * variable.
 */
import type { Server, Socket } from 'node:net';
import { ProtocolError } from '@millrace/core';

export const MessageType = {
  hello: 1,
  welcome: 2,
  pull: 3,
  values: 4,
  push: 5,
  leave: 6,
  error: 7,
  left: 8,
  snapshot: 9,
  state: 10,
  checkpointed: 11,
  fetch: 12,
  fetched: 13,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface Frame {
  type: MessageType;
  body: Buffer;
}

/** A frame larger than this is a protocol error, not an allocation. */
const maxFrameBytes = 1 << 30;

export function encodeFrame(type: MessageType, ...parts: readonly Uint8Array[]): Buffer {
  const bodyLength = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const frame = Buffer.allocUnsafe(5 + bodyLength);
  frame.writeUInt32LE(1 + bodyLength, 0);
  frame.writeUInt8(type, 4);
  let offset = 5;
  for (const part of parts) {
    frame.set(part, offset);
    offset += part.byteLength;
  }
  return frame;
}

export function float64(value: number): Uint8Array {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeDoubleLE(value, 0);
  return bytes;
}

export function float32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Copies `length` float32s out of `body` at `offset` (frames are not 4-byte aligned). */
export function readFloat32(body: Buffer, offset: number): Float32Array {
  const bytes = body.subarray(offset);
  if (bytes.byteLength % 4 !== 0) throw new ProtocolError(`float32 payload of ${bytes.byteLength} bytes`);
  const values = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(values.buffer).set(bytes);
  return values;
}

/** Splits a TCP byte stream into frames and hands each to `onFrame`. */
export function readFrames(
  socket: Socket,
  onFrame: (frame: Frame) => void,
  onError: (error: Error) => void,
): void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  socket.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    pendingBytes += chunk.byteLength;
    if (pendingBytes < 5) return;
    let buffer = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    while (buffer.byteLength >= 4) {
      const length = buffer.readUInt32LE(0);
      if (length < 1 || length > maxFrameBytes) {
        onError(new ProtocolError(`parameter-server frame of ${length} bytes is out of bounds`));
        socket.destroy();
        return;
      }
      if (buffer.byteLength < 4 + length) break;
      const type = buffer.readUInt8(4) as MessageType;
      onFrame({ type, body: buffer.subarray(5, 4 + length) });
      buffer = buffer.subarray(4 + length);
    }
    pending = buffer.byteLength ? [buffer] : [];
    pendingBytes = buffer.byteLength;
  });
}

/**
 * Serves one connection of a frame server (a parameter server, a prediction shard): each frame
 * goes to `handle`; a frame it throws on is answered with an error frame that ends the
 * connection, and a malformed stream destroys it.
 */
export function serveFrames(socket: Socket, handle: (frame: Frame) => void): void {
  readFrames(
    socket,
    (frame) => {
      try {
        handle(frame);
      } catch (error) {
        socket.end(encodeFrame(MessageType.error, Buffer.from((error as Error).message)));
      }
    },
    () => socket.destroy(),
  );
}

/** Binds a frame server to `port` (0: any free one) of `host`; resolves with the bound port. */
export function listenOn(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
