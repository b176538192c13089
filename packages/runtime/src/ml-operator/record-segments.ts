/**
 * Numbered records stored packed: each appended batch is copied into one segment (one byte array
 * plus an offset table), and readers get views into it, or the segment's packed records as they
 * are (what the ring pump writes in one copy).
 *
 * Why: a replay buffer holds every record a runner read until a checkpoint covers it. Held as one
 * Uint8Array (with its own ArrayBuffer) each, tens of thousands of records live long enough to be
 * promoted to the old generation, and the garbage collector's work made a replaying role about 40 %
 * slower than one without replay (bench/replay). Packed, a held batch is three objects whatever
 * its size; the views handed to the runner are short-lived.
 *
 * A record of {@link packedRecordLimitBytes} or more is held as it is, in a segment of its own:
 * it is one object either way, and copying it into fresh memory cost more than the rest of the
 * path (1 MiB tensor frames: about 2.4 ms each, most of the Node side's time in bench/ring).
 * Holding it is safe because the caller owns what it writes (a codec's `encode` returns a new
 * array; the queue without replay keeps records by reference too).
 */
import type { PackedRecords } from '@millrace/core';

interface Segment {
  /** Position of the segment's first record (positions count from 1). */
  first: number;
  count: number;
  data: Uint8Array;
  /** `count + 1` offsets into `data`: record i is `data[offsets[i] … offsets[i + 1])`. */
  offsets: Uint32Array;
}

/** Records at least this large are held without a copy (see the module comment). */
export const packedRecordLimitBytes = 64 * 1024;

export class RecordSegments {
  #segments: Segment[] = [];
  #head = 0;
  /** Positions `#dropped + 1` … `#last` are held. */
  #dropped = 0;
  #last = 0;

  /** Highest position appended so far. */
  get last(): number {
    return this.#last;
  }

  /** Appends `records[from … to)` as positions `last + 1` …; returns their bytes. */
  append(records: readonly Uint8Array[], from: number, to: number): number {
    let total = 0;
    let runStart = from;
    for (let index = from; index < to; index++) {
      const record = records[index]!;
      total += record.byteLength;
      if (record.byteLength < packedRecordLimitBytes) continue;
      this.#pack(records, runStart, index);
      this.#push(record, Uint32Array.of(0, record.byteLength), 1);
      runStart = index + 1;
    }
    this.#pack(records, runStart, to);
    return total;
  }

  /** Views of positions `from + 1` … `to` (all held). */
  slice(from: number, to: number): Uint8Array[] {
    const views: Uint8Array[] = [];
    let index = this.#find(from + 1);
    let position = from + 1;
    while (position <= to) {
      const segment = this.#segments[index]!;
      const end = Math.min(to, segment.first + segment.count - 1);
      for (; position <= end; position++) {
        const record = position - segment.first;
        views.push(segment.data.subarray(segment.offsets[record]!, segment.offsets[record + 1]!));
      }
      index += 1;
    }
    return views;
  }

  /**
   * Positions `from + 1` … `to` (all held) as stored, without a view per record: the part of them
   * in the segment holding `from + 1`, so possibly fewer. Never empty when `to > from`.
   */
  packed(from: number, to: number): PackedRecords {
    const segment = this.#segments[this.#find(from + 1)]!;
    const first = from + 1 - segment.first;
    const end = Math.min(to - segment.first + 1, segment.count);
    return { data: segment.data, offsets: segment.offsets.subarray(first, end + 1) };
  }

  /** Forgets positions up to `position`; returns the bytes of the records dropped. */
  dropThrough(position: number): number {
    if (position <= this.#dropped) return 0;
    let bytes = 0;
    while (this.#head < this.#segments.length) {
      const segment = this.#segments[this.#head]!;
      const fromRecord = Math.max(0, this.#dropped + 1 - segment.first);
      const lastPosition = segment.first + segment.count - 1;
      const toRecord = Math.min(segment.count, position - segment.first + 1);
      bytes += segment.offsets[toRecord]! - segment.offsets[fromRecord]!;
      if (lastPosition > position) break;
      this.#segments[this.#head] = undefined as unknown as Segment; // release it now
      this.#head += 1;
    }
    this.#dropped = position;
    if (this.#head > 64 && this.#head * 2 > this.#segments.length) {
      this.#segments = this.#segments.slice(this.#head);
      this.#head = 0;
    }
    return bytes;
  }

  clear(): void {
    this.#segments = [];
    this.#head = 0;
    this.#dropped = this.#last;
  }

  /** Copies `records[from … to)` into one segment. */
  #pack(records: readonly Uint8Array[], from: number, to: number): void {
    const count = to - from;
    if (count <= 0) return;
    const offsets = new Uint32Array(count + 1);
    let total = 0;
    for (let index = 0; index < count; index++) {
      offsets[index] = total;
      total += records[from + index]!.byteLength;
    }
    offsets[count] = total;
    const data = new Uint8Array(total);
    for (let index = 0; index < count; index++) data.set(records[from + index]!, offsets[index]!);
    this.#push(data, offsets, count);
  }

  #push(data: Uint8Array, offsets: Uint32Array, count: number): void {
    this.#segments.push({ first: this.#last + 1, count, data, offsets });
    this.#last += count;
  }

  /** Index of the segment holding `position`. */
  #find(position: number): number {
    let low = this.#head;
    let high = this.#segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#segments[middle]!.first <= position) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}
