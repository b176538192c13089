import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTensorFrame, msgpackCodec } from '@millrace/bridge-shm';
import { CodecError } from '@millrace/core';
import { afterAll, describe, expect, it } from 'vitest';
import { generatedInput, recordingContext } from '../test-support.js';
import { pythonRunner } from './python-runner.js';

const directory = mkdtempSync(join(tmpdir(), 'millrace-python-data-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Writes `source` as `name`; the pythonRunner options that run its `main` on /usr/bin/python3. */
function entryFile(name: string, source: string) {
  const path = join(directory, name);
  writeFileSync(path, source);
  return { entry: `${path}:main`, python: '/usr/bin/python3' };
}

// The same contract over both transports: the rings (the default) and transport: 'pipes'.
describe.each(['ring', 'pipes'] as const)('pythonRunner records over %s', (transport) => {
  it('a runner reads 1,000,000 records and writes back their sums', async () => {
    const count = 1_000_000;
    const script = entryFile(
      'sums.py',
      [
        'def main(ctx):',
        '    seen = 0',
        '    while True:',
        '        batch = ctx.input.read_batch(8192)',
        '        if batch is None:',
        '            break',
        '        ctx.output.write_batch([a + b for a, b in batch])',
        '        seen += len(batch)',
        '    ctx.report(records=seen)',
      ].join('\n'),
    );
    const pairs = new Map<number, Uint8Array>();
    const context = recordingContext({
      // Records are msgpack pairs [i, 2i]; encoding is cached per residue to keep the test lean.
      input: generatedInput(count, (index) => {
        let record = pairs.get(index);
        if (!record) {
          record = msgpackCodec.encode([index, 2 * index]);
          if (index < 1000) pairs.set(index, record);
        }
        return record;
      }),
      output: true,
    });
    const runner = pythonRunner({
      ...script,
      requiredModules: ['msgpack'],
      inputCodec: 'msgpack',
      outputCodec: 'msgpack',
      transport,
    });
    const handle = await runner.start(context);
    expect(await handle.result).toEqual({ status: 'succeeded' });
    expect(context.ended()).toBe(true);
    expect(context.written).toHaveLength(count);
    let total = 0;
    for (const record of context.written) total += msgpackCodec.decode(record) as number;
    expect(total).toBe(3 * ((count * (count - 1)) / 2));
    expect(msgpackCodec.decode(context.written[12_345]!)).toBe(3 * 12_345);
    expect(context.reported).toContainEqual({ records: count });
  });

  it('a runner that stops reading early still finishes, and its unread input does not fail it', async () => {
    const script = entryFile(
      'first-ten.py',
      'def main(ctx):\n    for n, record in enumerate(ctx.input):\n        ctx.output.write(record)\n        if n == 9:\n            return\n',
    );
    const context = recordingContext({
      input: generatedInput(200_000, (index) => new TextEncoder().encode(JSON.stringify({ index }))),
      output: true,
    });
    const handle = await pythonRunner({
      ...script,
      inputCodec: 'json',
      outputCodec: 'json',
      transport,
      ...(transport === 'ring' ? { ringBytes: 65_536 } : {}),
    }).start(context);
    expect(await handle.result).toEqual({ status: 'succeeded' });
    expect(context.written.map((record) => JSON.parse(new TextDecoder().decode(record)).index)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    expect(context.ended()).toBe(true);
  });

  it('a runner that fails mid-stream does not end the output stream', async () => {
    const script = entryFile(
      'fails-midway.py',
      'def main(ctx):\n    for n, record in enumerate(ctx.input):\n        ctx.output.write(record)\n        if n == 100:\n            raise RuntimeError("bad record")\n',
    );
    const context = recordingContext({
      input: generatedInput(10_000, (index) => Uint8Array.of(index & 255)),
      output: true,
    });
    const handle = await pythonRunner({
      ...script,
      inputCodec: 'raw',
      outputCodec: 'raw',
      output: 'ignore',
      transport,
    }).start(context);
    const result = await handle.result;
    expect(result).toMatchObject({ status: 'failed', exitCode: 1 });
    expect((result as { message: string }).message).toContain('RuntimeError: bad record');
    expect(context.ended()).toBe(false);
  });
});

describe('pythonRunner data path', () => {
  it('over pipes a record of any size goes through: 16 MiB, four times the default ring', async () => {
    const script = entryFile(
      'sizes.py',
      'def main(ctx):\n    for record in ctx.input:\n        ctx.output.write(len(record).to_bytes(8, "little") + record[:3] + record[-3:])\n',
    );
    const sizes = [16 << 20, 5, 0, 1 << 20];
    const records = sizes.map((size, index) => new Uint8Array(size).fill(index + 1));
    const context = recordingContext({
      input: generatedInput(records.length, (index) => records[index]!),
      output: true,
    });
    const handle = await pythonRunner({
      ...script,
      inputCodec: 'raw',
      outputCodec: 'raw',
      transport: 'pipes',
    }).start(context);
    expect(await handle.result).toEqual({ status: 'succeeded' });
    expect(context.ended()).toBe(true);
    const seen = context.written.map((record) => [
      Number(new DataView(record.buffer, record.byteOffset).getBigUint64(0, true)),
      ...record.subarray(8),
    ]);
    expect(seen).toEqual([
      [16 << 20, 1, 1, 1, 1, 1, 1],
      [5, 2, 2, 2, 2, 2, 2],
      [0],
      [1 << 20, 4, 4, 4, 4, 4, 4],
    ]);
  });

  it('refuses a transport it does not know, and ringBytes with pipes', () => {
    expect(() => pythonRunner({ entry: 'a:b', transport: 'sockets' as 'pipes' })).toThrow(
      /transport: must be 'ring' or 'pipes' \(got "sockets"\)/,
    );
    expect(() => pythonRunner({ entry: 'a:b', transport: 'pipes', ringBytes: 1 << 20 })).toThrow(
      /ringBytes: sizes the rings/,
    );
  });

  it('a record larger than the input ring fails the job naming both sizes, instead of leaving Python waiting', async () => {
    const script = entryFile(
      'reads-all.py',
      'def main(ctx):\n    for record in ctx.input:\n        ctx.output.write(record)\n',
    );
    const sizes = [10, 20, 5_000, 30];
    const context = recordingContext({
      input: generatedInput(sizes.length, (index) => new Uint8Array(sizes[index]!)),
      output: true,
    });
    const handle = await pythonRunner({
      ...script,
      inputCodec: 'raw',
      outputCodec: 'raw',
      ringBytes: 4096,
      output: 'ignore',
    }).start(context);
    const result = await handle.result;
    expect(result.status).toBe('failed');
    expect((result as { message: string }).message).toMatch(
      /A record of 5000 bytes does not fit the shared-memory ring carrying records to the Python runner, whose largest record is 4088 bytes.*ringBytes, a power of two at least 5008/,
    );
  });

  it("the role's codec travels in the context: the runner follows it, and an input or output codec that disagrees fails at start naming both", async () => {
    const script = entryFile(
      'doubles.py',
      'def main(ctx):\n    for value in ctx.input:\n        ctx.output.write(value * 2)\n',
    );
    const follows = Object.assign(
      recordingContext({ input: generatedInput(3, (index) => msgpackCodec.encode(index + 1)), output: true }),
      { codec: 'msgpack' },
    );
    const handle = await pythonRunner({
      ...script,
      requiredModules: ['msgpack'],
      output: 'ignore',
    }).start(follows);
    expect(await handle.result).toEqual({ status: 'succeeded' });
    expect(follows.written.map((record) => msgpackCodec.decode(record))).toEqual([2, 4, 6]);

    const disagrees = Object.assign(
      recordingContext({ input: generatedInput(1, () => msgpackCodec.encode(1)) }),
      {
        codec: 'msgpack',
      },
    );
    await expect(pythonRunner({ ...script, inputCodec: 'json' }).start(disagrees)).rejects.toThrow(
      /decodes its input as 'json' but role '.*' encodes its records as 'msgpack'/,
    );

    // The output direction is checked the same way: the role decodes what the runner writes with
    // its own codec, so a runner told to write JSON into a msgpack role fails at start, by name.
    const outputDisagrees = Object.assign(recordingContext({ output: true }), { codec: 'msgpack' });
    const error = await Promise.resolve()
      .then(() => pythonRunner({ ...script, outputCodec: 'json' }).start(outputDisagrees))
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(CodecError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /encodes its output as 'json' but role '.*' decodes what it writes as 'msgpack'/,
    );
  });

  it('tensor frames reach a torch DataLoader as batched tensors', async () => {
    const script = entryFile(
      'torch_sums.py',
      [
        'import torch',
        'def main(ctx):',
        '    loader = torch.utils.data.DataLoader(ctx.input.torch_dataset(batch_size=32), batch_size=None)',
        '    for batch in loader:',
        '        features = batch["features"]',
        '        assert features.dtype == torch.float32, features.dtype',
        '        ctx.output.write({"shape": list(features.shape), "sum": float(features.sum())})',
      ].join('\n'),
    );
    const frames = 100;
    const context = recordingContext({
      input: generatedInput(frames, (index) =>
        encodeTensorFrame({
          features: { dtype: 'float32', shape: [4], data: Float32Array.of(index, index, index, index) },
        }),
      ),
      output: true,
    });
    const handle = await pythonRunner({
      ...script,
      requiredModules: ['torch'],
      inputCodec: 'tensor',
      outputCodec: 'json',
    }).start(context);
    expect(await handle.result).toEqual({ status: 'succeeded' });
    const batches = context.written.map((record) => JSON.parse(new TextDecoder().decode(record)));
    expect(batches.map((batch) => batch.shape)).toEqual([
      [32, 4],
      [32, 4],
      [32, 4],
      [4, 4],
    ]);
    expect(batches.reduce((sum, batch) => sum + batch.sum, 0)).toBe(4 * ((frames * (frames - 1)) / 2));
  });
});
