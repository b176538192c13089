import { describe, expect, it } from 'vitest';
import { RecordSegments } from './record-segments.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (views: Uint8Array[]) => views.map((view) => new TextDecoder().decode(view));

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

  it('keeps a copy: the writer may reuse its buffers', () => {
    const segments = new RecordSegments();
    const record = bytes('abc');
    segments.append([record], 0, 1);
    record.fill(0);
    expect(text(segments.slice(0, 1))).toEqual(['abc']);
  });
});
