import { childProcessesOf } from '@millrace/runner-kit/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  clicksTrainer,
  localSpec,
  memoryInput,
  startNode,
  temporaryDirectory,
} from './fixtures/local-nodes.js';

const directory = temporaryDirectory();
afterEach(() => directory.remove());

describe('the training process input ring', () => {
  it('a record larger than the ring fails the node naming both sizes, and the training process is gone', async () => {
    const before = childProcessesOf();
    const spec = await localSpec({ worker: 1, ps: 1 });
    const records = [new Uint8Array(16), new Uint8Array(5_000), new Uint8Array(16)];
    const node = await startNode(clicksTrainer({}, { ringCapacityBytes: 4096, connectTimeoutMs: 20_000 }), {
      spec,
      role: 'worker',
      index: 0,
      checkpointDirectory: directory.path,
      input: memoryInput(records),
    });
    const result = await node.handle.result;
    expect(result.status).toBe('failed');
    expect((result as { message: string }).message).toMatch(
      /worker\[0\] training process: A record of 5000 bytes does not fit the shared-memory ring feeding the training process, whose largest record is 4088 bytes.*ringCapacityBytes, a power of two at least 5008/,
    );
    expect(childProcessesOf()).toEqual(before);
  });
});
