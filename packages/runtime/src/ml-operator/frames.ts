/**
 * Length-prefixed frames: a little-endian uint32 byte count, then the record's bytes. The format
 * records take over a pipe between a NodeAgent and a runner process (see `pipe-transport.ts`).
 */
const headerBytes = 4;

/** Concatenates records into one buffer of frames (one write per batch). */
export function encodeFrames(records: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const record of records) total += headerBytes + record.byteLength;
  const buffer = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const record of records) {
    buffer.writeUInt32LE(record.byteLength, offset);
    buffer.set(record, offset + headerBytes);
    offset += headerBytes + record.byteLength;
  }
  return buffer;
}

/** Splits a byte stream into frames, across chunk boundaries. */
export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);

  /** The complete frames in `chunk` (plus what was held back); keeps a partial tail for later. */
  push(chunk: Buffer): Uint8Array[] {
    const data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (data.length - offset >= headerBytes) {
      const length = data.readUInt32LE(offset);
      if (data.length - offset - headerBytes < length) break;
      // Copy: the chunk's memory is reused by the stream, and records outlive it.
      frames.push(Uint8Array.prototype.slice.call(data, offset + headerBytes, offset + headerBytes + length));
      offset += headerBytes + length;
    }
    this.#pending = offset === data.length ? Buffer.alloc(0) : data.subarray(offset);
    return frames;
  }

  /** Bytes of an unfinished frame (non-zero at end-of-stream means the writer was cut off). */
  get pendingBytes(): number {
    return this.#pending.length;
  }
}
