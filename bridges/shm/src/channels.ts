/**
 * Adapters from ring ends to core's channel contracts, so a NodeAgent can hand a ring to a runner
 * as its `input` or `output`.
 */
import type { InputChannel, OutputChannel } from '@millrace/core';
import type { RingReader } from './ring-reader.js';
import type { RingWriter } from './ring-writer.js';

export function ringInputChannel(reader: RingReader): InputChannel {
  return {
    readBatch: (maxRecords) => reader.readBatch(maxRecords),
    [Symbol.asyncIterator]: () => reader[Symbol.asyncIterator](),
  };
}

export function ringOutputChannel(writer: RingWriter): OutputChannel {
  return {
    write: (record) => writer.write(record),
    writeBatch: (records) => writer.writeBatch(records),
    end: () => writer.end(),
  };
}
