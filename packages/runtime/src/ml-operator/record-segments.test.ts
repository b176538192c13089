import type { PackedRecords } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { packedRecordLimitBytes, RecordSegments } from './record-segments.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (views: Uint8Array[]) => views.map((view) => new TextDecoder().decode(view));
const unpacked = ({ data, offsets }: PackedRecords) =>
  text(
    Array.from({ length: offsets.length - 1 }, (_, index) =>
      data.subarray(offsets[index], offsets[index + 1]),
    ),
  );

describe('RecordSegments', () => {
  it('hands out any range of positions across segments, and counts the bytes it drops', () => {
    const segments = new RecordSegments();
    expect(segments.append(['a', 'bb', 'ccc'].map(bytes), 0, 3)).toBe(6);
    expect(segments.append(['x', 'dddd', 'e', 'y'].map(bytes), 1, 3)).toBe(5); // only 'dddd', 'e'
    segments.append([bytes('ff')], 0, 1);
    expect(segments.last).toBe(6);
    expect(text(segments.slice(0, 6))).toEqual(['a', 'bb', 'ccc', 'dddd', 'e', 'ff']);
    expect(text(segments.slice(2, 5))).toEqual(['ccc', 'dddd', 'e']);
    expect(segments.dropThrough(2)).toBe(3); // 'a', 'bb'
    expect(text(segments.slice(2, 4))).toEqual(['ccc', 'dddd']);
    expect(segments.dropThrough(4)).toBe(7); // 'ccc', 'dddd' (a segment and a half)
    expect(text(segments.slice(4, 6))).toEqual(['e', 'ff']);
    expect(segments.dropThrough(4)).toBe(0);
    expect(segments.dropThrough(6)).toBe(3);
  });

  it('copies small records into one segment per batch, and holds a large one as written', () => {
    const segments = new RecordSegments();
    const small = bytes('abc');
    const large = new Uint8Array(packedRecordLimitBytes).fill(7);
    expect(segments.append([small, large, bytes('de')], 0, 3)).toBe(3 + packedRecordLimitBytes + 2);
    small.fill(0); // packed: the segment has its own copy
    const [first, second, third] = segments.slice(0, 3);
    expect(text([first!, third!])).toEqual(['abc', 'de']);
    // Large: no copy of it was made.
    expect(second!.buffer).toBe(large.buffer);
    expect(second!.byteLength).toBe(packedRecordLimitBytes);
    expect(text(segments.slice(1, 3).slice(1))).toEqual(['de']);
    expect(segments.dropThrough(2)).toBe(3 + packedRecordLimitBytes);
    expect(text(segments.slice(2, 3))).toEqual(['de']);
  });

  it('hands out positions packed as stored, up to the end of the segment that holds the first', () => {
    const segments = new RecordSegments();
    segments.append(['a', 'bb', 'ccc'].map(bytes), 0, 3);
    segments.append(['dddd', 'e'].map(bytes), 0, 2);
    const fromMiddle = segments.packed(1, 5);
    expect(unpacked(fromMiddle)).toEqual(['bb', 'ccc']); // the first segment's part only
    expect(fromMiddle.offsets[0]).toBe(1); // offsets into the segment, not rebased
    expect(unpacked(segments.packed(3, 5))).toEqual(['dddd', 'e']);
    expect(unpacked(segments.packed(3, 4))).toEqual(['dddd']);
    // A large record is a segment of its own, handed out as written.
    const large = new Uint8Array(packedRecordLimitBytes);
    segments.append([bytes('f'), large, bytes('g')], 0, 3);
    expect(unpacked(segments.packed(5, 8))).toEqual(['f']);
    expect(segments.packed(6, 8).data).toBe(large);
    segments.dropThrough(6);
    expect(unpacked(segments.packed(7, 8))).toEqual(['g']);
  });
});
