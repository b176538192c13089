/**
 * Length-prefixed frames: a little-endian uint32 byte count, then the record's bytes. The format
 * records take over a pipe between a host and a runner process: the pipe transport of the
 * runtime's `streamProcessRunner`, and `pythonRunner({ transport: 'pipes' })` (whose Python side,
 * `millrace/_pipes.py`, reads and writes the same frames).
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

/**
 * Splits a byte stream into frames, across chunk boundaries. Chunks of an unfinished frame are
 * held as a list and joined once the frame is complete, so a large record arriving in many small
 * chunks is copied once, not once per chunk.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the frame being assembled (its header read), or -1. */
  #needed = -1;

  /** The complete frames so far; keeps a partial tail for later. */
  push(chunk: Buffer): Uint8Array[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#needed === -1 && this.#buffered < headerBytes) return [];
    if (this.#needed !== -1 && this.#buffered < this.#needed) return [];
    const data = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
    const frames: Uint8Array[] = [];
    let offset = 0;
    this.#needed = -1;
    while (data.length - offset >= headerBytes) {
      const length = data.readUInt32LE(offset);
      if (data.length - offset - headerBytes < length) {
        this.#needed = headerBytes + length;
        break;
      }
      // Copy into a plain Uint8Array: the chunk's memory is reused by the stream, records outlive it.
      frames.push(new Uint8Array(data.subarray(offset + headerBytes, offset + headerBytes + length)));
      offset += headerBytes + length;
    }
    const rest = data.subarray(offset);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#buffered = rest.length;
    return frames;
  }

  /** Bytes of an unfinished frame (non-zero at end-of-stream means the writer was cut off). */
  get pendingBytes(): number {
    return this.#buffered;
  }
}
