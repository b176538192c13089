import { describe, expect, it } from 'vitest';
import { encodeFrames, FrameDecoder } from './frames.js';

describe('length-prefixed frames', () => {
  it('round-trips records split across arbitrary chunk boundaries, empty records included', () => {
    const records = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(5_000).fill(7)];
    const bytes = encodeFrames(records);
    for (const chunkSize of [1, 3, 4, 5, 1000, bytes.length]) {
      const decoder = new FrameDecoder();
      const out: Uint8Array[] = [];
      for (let offset = 0; offset < bytes.length; offset += chunkSize) {
        out.push(...decoder.push(bytes.subarray(offset, offset + chunkSize)));
      }
      expect(out).toEqual(records);
      expect(decoder.pendingBytes).toBe(0);
    }
  });

  it('keeps a cut-off frame pending so end-of-stream inside a record is detectable', () => {
    const decoder = new FrameDecoder();
    const bytes = encodeFrames([new Uint8Array([9, 9, 9, 9])]);
    expect(decoder.push(bytes.subarray(0, 6))).toEqual([]);
    expect(decoder.pendingBytes).toBe(6);
  });
});
