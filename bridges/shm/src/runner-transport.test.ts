// The ring transport's two sides in one process (real rings in /dev/shm); the same transport
// between real processes is tested in test/src/ml-operator-ring.test.ts.
import { existsSync } from 'node:fs';
import type { InputChannel, OutputChannel } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { RingReader } from './ring-reader.js';
import { createRecordTransport } from './runner-transport.js';
import { openRunnerChannels } from './runner-transport-channels.js';
import { patternRecord } from './test-support.js';

function arrayInput(records: Uint8Array[]): InputChannel {
  let next = 0;
  return {
    async readBatch(maxRecords) {
      if (next >= records.length) return null;
      const batch = records.slice(next, next + maxRecords);
      next += batch.length;
      return batch;
    },
    async *[Symbol.asyncIterator]() {
      yield* records;
    },
  };
}

function collectingOutput(): OutputChannel & { records: Uint8Array[] } {
  const records: Uint8Array[] = [];
  return {
    records,
    write: async (record) => {
      records.push(record);
    },
    writeBatch: async (batch) => {
      records.push(...batch);
    },
    end: async () => {},
  };
}

describe('createRecordTransport', () => {
  it('carries records both ways through small rings (backpressure), ends explicitly, removes the rings', async () => {
    const transport = createRecordTransport({ capacityBytes: 4096 });
    const setup = transport.setup({ hasInput: true, hasOutput: true });
    expect(setup.env.MILLRACE_RECORDS_TRANSPORT).toBe('shm');
    const rings = [setup.env.MILLRACE_RECORDS_IN_RING!, setup.env.MILLRACE_RECORDS_OUT_RING!];
    for (const path of rings) expect(existsSync(path)).toBe(true);
    const sent = Array.from({ length: 2_000 }, (_, index) => patternRecord(index, 600));
    const output = collectingOutput();
    const pumps = setup.connect([], { input: arrayInput(sent), output });

    // The runner's side: echo each record, reusing one buffer (the output copies at write).
    const child = await openRunnerChannels(setup.env);
    const scratch = new Uint8Array(600);
    for await (const record of child.input!) {
      scratch.set(record);
      await child.output!.write(scratch.subarray(0, record.byteLength));
    }
    await child.output!.end();

    pumps.stop();
    await pumps.outputDrained;
    expect(pumps.failure).toBeUndefined();
    expect(output.records.map((record) => Array.from(record))).toEqual(
      sent.map((record) => Array.from(record)),
    );
    for (const path of rings) expect(existsSync(path)).toBe(false);
  });

  it("each ring's header carries the role's codec: a program speaking another fails at open naming both", async () => {
    const transport = createRecordTransport({ capacityBytes: 4096 });
    // A prediction-style codec: tensor frames in, msgpack records out.
    const setup = transport.setup({ hasInput: true, hasOutput: true, codec: 'tensor-in/msgpack-out' });
    const misread = await openRunnerChannels(setup.env, { codec: 'json' }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(misread?.message).toMatch(/speaks "json" but ring .* was created for "tensor"/);
    setup.discard?.();
    // A ring end refused for its codec stays claimed, so the output direction gets fresh rings.
    const second = transport.setup({ hasInput: true, hasOutput: true, codec: 'tensor-in/msgpack-out' });
    const miswritten = await openRunnerChannels(second.env, { codec: 'tensor-in/json-out' }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(miswritten?.message).toMatch(/speaks "json" but ring .* was created for "msgpack"/);
    second.discard?.();

    // A program speaking the role's codec opens both rings; the header really says so.
    const matching = transport.setup({ hasInput: true, hasOutput: false, codec: 'msgpack' });
    const reader = await RingReader.open(matching.env.MILLRACE_RECORDS_IN_RING!, { codec: 'msgpack' });
    expect(reader.codec).toBe('msgpack');
    await reader.close();
    matching.discard?.();

    // Without a codec the rings say raw, as before; a name the header cannot hold fails by name.
    const plain = transport.setup({ hasInput: true, hasOutput: false });
    const plainReader = await RingReader.open(plain.env.MILLRACE_RECORDS_IN_RING!);
    expect(plainReader.codec).toBe('raw');
    await plainReader.close();
    plain.discard?.();
    expect(() =>
      transport.setup({ hasInput: true, hasOutput: false, codec: 'protobuf-click-events' }),
    ).toThrow(
      /codec name 'protobuf-click-events' cannot go into a shared-memory ring header.*transport: 'pipes'/,
    );
  });

  it('a record larger than the ring fails the node with a message saying how to get a larger ring', async () => {
    const setup = createRecordTransport({ capacityBytes: 4096 }).setup({ hasInput: true, hasOutput: false });
    const pumps = setup.connect([], { input: arrayInput([new Uint8Array(5_000)]) });
    const child = await openRunnerChannels(setup.env);
    await expect(
      (async () => {
        for await (const _ of child.input!);
      })(),
    ).rejects.toThrow(/closed/);
    pumps.stop();
    await pumps.outputDrained;
    expect(pumps.failure?.message).toMatch(
      /record of 5000 bytes does not fit .*largest record is 4088 bytes.* createRecordTransport\(\{ capacityBytes \}\)/,
    );
    expect(existsSync(setup.env.MILLRACE_RECORDS_IN_RING!)).toBe(false);
  });

  it('a runner that exits before opening its channels does not hold the node: the pumps end and the rings go', async () => {
    const setup = createRecordTransport().setup({ hasInput: true, hasOutput: true });
    const pumps = setup.connect([], { input: arrayInput([new Uint8Array(8)]), output: collectingOutput() });
    await new Promise((resolve) => setTimeout(resolve, 20));
    pumps.stop(); // what the runner does when the child process has exited
    await pumps.outputDrained;
    expect(existsSync(setup.env.MILLRACE_RECORDS_IN_RING!)).toBe(false);
    expect(existsSync(setup.env.MILLRACE_RECORDS_OUT_RING!)).toBe(false);
  });

  it('openRunnerChannels refuses an environment set up for another transport', async () => {
    await expect(openRunnerChannels({ MILLRACE_RECORDS_TRANSPORT: 'pipes' })).rejects.toThrow(/not "shm"/);
  });
});
