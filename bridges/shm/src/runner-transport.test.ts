// The ring transport's two sides in one process (real rings in /dev/shm); the same transport
// between real processes is tested in test/src/ml-operator-ring.test.ts.
import { existsSync } from 'node:fs';
import type { InputChannel, OutputChannel } from '@millrace/core';
import { describe, expect, it } from 'vitest';
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
