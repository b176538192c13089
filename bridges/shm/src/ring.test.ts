import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, MillraceError, MillraceTimeoutError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { ChannelClosedError, RecordTooLargeError } from './errors.js';
import { RingReader } from './ring-reader.js';
import { RingWriter } from './ring-writer.js';
import { patternRecord, testRing } from './test-support.js';

describe('ring', () => {
  it('delivers records in order and intact across many wrap-arounds, then end-of-stream', async () => {
    const { path } = await testRing(4096);
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    const count = 3000;
    const writing = (async () => {
      for (let start = 0; start < count; start += 25) {
        await writer.writeBatch(Array.from({ length: 25 }, (_, offset) => patternRecord(start + offset)));
      }
      await writer.end();
    })();
    let index = 0;
    const mismatches: number[] = [];
    for await (const record of reader) {
      if (Buffer.compare(record, patternRecord(index)) !== 0) mismatches.push(index);
      index++;
    }
    await writing;
    expect(mismatches).toEqual([]);
    expect(index).toBe(count);
    expect(await reader.read()).toBeNull();
    await writer.close();
    await reader.close();
    expect(existsSync(path)).toBe(false);
  });

  it('writes packed records (one buffer plus offsets) as separate records', async () => {
    const { path } = await testRing(4096);
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    const records = Array.from({ length: 200 }, (_, index) => patternRecord(index, 300));
    const offsets = new Uint32Array(records.length + 1);
    const data = new Uint8Array(records.reduce((total, record) => total + record.byteLength, 0));
    records.forEach((record, index) => {
      data.set(record, offsets[index]!);
      offsets[index + 1] = offsets[index]! + record.byteLength;
    });
    // Two writes: the first 120 records, then the rest from the middle of the same buffer (the
    // offsets of a packed batch need not start at 0).
    const writing = writer
      .writePacked({ data, offsets: offsets.subarray(0, 121) })
      .then(() => writer.writePacked({ data, offsets: offsets.subarray(120) }))
      .then(() => writer.end());
    const received: Uint8Array[] = [];
    for await (const record of reader) received.push(record);
    await writing;
    expect(received).toEqual(records);
    await expect(writer.writePacked({ data, offsets: new Uint32Array([0, 5]) })).rejects.toThrow(
      /already ended/,
    );
    await writer.close();
    await reader.close();
  });

  it('rejects packed offsets that run backwards or past the data, and records larger than the ring', async () => {
    const { path } = await testRing(4096);
    const writer = await RingWriter.open(path);
    const data = new Uint8Array(10);
    await expect(writer.writePacked({ data, offsets: new Uint32Array([0, 5, 3]) })).rejects.toThrow(
      /offsets\[2\] = 3 is not between offsets\[1\] \(5\)/,
    );
    await expect(writer.writePacked({ data, offsets: new Uint32Array([0, 11]) })).rejects.toThrow(
      /data length \(10\)/,
    );
    const tooBig = await writer
      .writePacked({ data: new Uint8Array(5000), offsets: new Uint32Array([0, 10, 5000]) })
      .catch((error) => error);
    expect(tooBig).toBeInstanceOf(RecordTooLargeError);
    expect(tooBig.message).toMatch(/4990 bytes/);
    expect(tooBig.message).toMatch(/4088/);
    await writer.close();
  });

  it('creates the file 0600 in a 0700 job directory', async () => {
    const { path } = await testRing();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
  });

  it('rejects a record larger than the ring, naming both sizes, and accepts the largest one', async () => {
    const { path } = await testRing(4096);
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    const error = await writer.write(new Uint8Array(5000)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RecordTooLargeError);
    expect((error as Error).message).toMatch(/5000 bytes.*4088 bytes/);
    await writer.write(new Uint8Array(4088).fill(9));
    expect(await reader.read()).toEqual(new Uint8Array(4088).fill(9));
    await writer.close();
    await reader.close();
  });

  it('applies backpressure: a write to a full ring resolves only after the reader makes room', async () => {
    const { path } = await testRing(4096);
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    await writer.write(new Uint8Array(3000));
    let second = false;
    const pending = writer.write(new Uint8Array(3000)).then(() => {
      second = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(second).toBe(false);
    expect((await reader.read())?.byteLength).toBe(3000);
    await pending;
    expect(second).toBe(true);
    await writer.close();
    await reader.close();
  });

  it('keeps the event loop free and uses almost no CPU while a reader waits', async () => {
    const { path } = await testRing();
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    const reading = reader.read();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const cpuBefore = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const cpu = process.cpuUsage(cpuBefore);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
    // A spinning waiter would burn ~500 ms of CPU here.
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(250);
    await writer.write(new Uint8Array([1, 2, 3]));
    expect(await reading).toEqual(new Uint8Array([1, 2, 3]));
    await writer.close();
    await reader.close();
  });

  it('tells the reader when the writer closed without ending the stream', async () => {
    const { path } = await testRing();
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    await writer.write(new Uint8Array([7]));
    await writer.close();
    expect(await reader.read()).toEqual(new Uint8Array([7]));
    const error = await reader.read().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ChannelClosedError);
    expect((error as ChannelClosedError).by).toBe('peer');
    await reader.close();
    expect(existsSync(path)).toBe(false);
  });

  it('fails a writer blocked on a full ring when the reader closes', async () => {
    const { path } = await testRing(4096);
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    await writer.write(new Uint8Array(4000));
    const blocked = writer.write(new Uint8Array(4000)).catch((caught: unknown) => caught);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await reader.close();
    const error = await blocked;
    expect(error).toBeInstanceOf(ChannelClosedError);
    expect((error as Error).message).toMatch(/reader closed/);
    await writer.close();
    expect(existsSync(path)).toBe(false);
  });

  it('rejects a pending read when the reader itself is closed', async () => {
    const { path } = await testRing();
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    const pending = reader.read().catch((caught: unknown) => caught);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await reader.close();
    const error = await pending;
    expect(error).toBeInstanceOf(ChannelClosedError);
    expect((error as ChannelClosedError).by).toBe('local');
    await writer.close();
  });

  it('bounds the wait for a peer that never attaches', async () => {
    const { path } = await testRing();
    const reader = await RingReader.open(path, { attachTimeoutMs: 100 });
    const error = await reader.read().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MillraceTimeoutError);
    expect((error as Error).message).toMatch(/Timed out after 100 ms .*no writer attached/);
    await reader.close();
  });

  it('refuses a codec mismatch, a second writer, a missing file and bad options', async () => {
    const { path } = await testRing(4096, 'msgpack');
    await expect(RingReader.open(path, { codec: 'json' })).rejects.toThrow(
      /speaks "json".*created for "msgpack"/,
    );
    const writer = await RingWriter.open(path, { codec: { name: 'msgpack' } });
    await expect(RingWriter.open(path)).rejects.toThrow(/writer end .* is already taken/);
    await expect(RingReader.open(`${path}.missing`)).rejects.toBeInstanceOf(ConfigError);
    await expect(RingReader.open(path, { timeoutMs: -1 })).rejects.toThrow(/timeoutMs/);
    await writer.close();
  });

  it('rejects writes after end and reads after close with a Millrace error', async () => {
    const { path } = await testRing();
    const writer = await RingWriter.open(path);
    const reader = await RingReader.open(path);
    await writer.end();
    await expect(writer.write(new Uint8Array(1))).rejects.toThrow(/already ended/);
    expect(await reader.readBatch(10)).toBeNull();
    await reader.close();
    const error = await reader.read().catch((caught: unknown) => caught);
    expect(MillraceError.isInstance(error)).toBe(true);
    await writer.close();
  });
});
