import { describe, expect, it } from 'vitest';
import { ringInputChannel, ringOutputChannel } from './channels.js';
import { msgpackCodec } from './codecs/msgpack-codec.js';
import { RingReader } from './ring-reader.js';
import { RingWriter } from './ring-writer.js';
import { testRing } from './test-support.js';

describe('ring channels', () => {
  it('carry codec-encoded records from an OutputChannel to an InputChannel, then end', async () => {
    const { path } = await testRing(1 << 16, 'msgpack');
    const output = ringOutputChannel(await RingWriter.open(path, { codec: msgpackCodec }));
    const reader = await RingReader.open(path, { codec: msgpackCodec });
    const input = ringInputChannel(reader);
    const values = Array.from({ length: 500 }, (_, id) => ({ id, name: `user-${id}`, score: id / 3 }));
    const writing = (async () => {
      await output.write(msgpackCodec.encode(values[0]));
      await output.writeBatch(values.slice(1).map((value) => msgpackCodec.encode(value)));
      await output.end();
    })();
    const first = await input.readBatch(10);
    const received = first!.map((bytes) => msgpackCodec.decode(bytes));
    for await (const bytes of input) received.push(msgpackCodec.decode(bytes));
    await writing;
    expect(received).toEqual(values);
    expect(await input.readBatch(10)).toBeNull();
    await reader.close();
  });
});
