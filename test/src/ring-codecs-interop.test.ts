// Codecs across languages: values encoded in Node are decoded by the Python module, encoded again
// there and decoded back in Node (msgpackr plain mode <-> python3-msgpack, JSON, tensor frames
// read zero-copy with numpy.frombuffer). A mismatch would change a value or raise a CodecError.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  codecByName,
  createRing,
  jsonCodec,
  msgpackCodec,
  pythonModuleDirectory,
  RingReader,
  RingWriter,
  type TensorFrame,
  tensorFrameCodec,
} from '@millrace/bridge-shm';
import type { Codec } from '@millrace/core';
import { describe, expect, it } from 'vitest';

const fixtures = fileURLToPath(new URL('../../bridges/shm/fixtures/', import.meta.url));
const python = process.env.MILLRACE_TEST_PYTHON ?? '/usr/bin/python3';

async function echoThroughPython<T>(codec: Codec<T>, values: readonly T[]): Promise<T[]> {
  const input = await createRing({ capacityBytes: 1 << 20, codec: codec.name });
  const output = await createRing({ capacityBytes: 1 << 20, codec: codec.name });
  const child = spawn(python, [`${fixtures}python_echo.py`, input.path, output.path, codec.name], {
    env: { ...process.env, PYTHONPATH: pythonModuleDirectory, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    const writer = await RingWriter.open(input.path, { codec });
    const reader = await RingReader.open(output.path, { codec });
    const writing = writer.writeBatch(values.map((value) => codec.encode(value))).then(() => writer.end());
    const received: T[] = [];
    for await (const record of reader) received.push(codec.decode(record));
    await writing;
    await writer.close();
    await reader.close();
    expect(await exited, stderr).toBe(0);
    return received;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('codecs between Node and Python', () => {
  it('msgpack values survive Node -> Python -> Node unchanged', async () => {
    const values = [
      { id: 1, name: 'ünïcødé ✓', tags: ['a', 'b'], nested: { deep: [1, -2, 3.5] } },
      { big: 2 ** 40, negative: -(2 ** 31), float: 0.1, flag: true, nothing: null },
      { bytes: new Uint8Array([0, 1, 255]) },
      [1, 'two', [3]],
      'a plain string',
      42,
    ];
    const received = await echoThroughPython(msgpackCodec, values);
    expect(received).toEqual(values);
  });

  it('JSON values survive Node -> Python -> Node unchanged', async () => {
    const values = [{ a: 1, b: [true, null, 'x'] }, 'text', 3.25, [], {}];
    expect(await echoThroughPython(jsonCodec, values)).toEqual(values);
  });

  it('tensor frames are read zero-copy by numpy and come back intact (doubled)', async () => {
    const frames: TensorFrame[] = Array.from({ length: 20 }, (_, index) => ({
      features: {
        dtype: 'float32',
        shape: [16, 8],
        data: Float32Array.from({ length: 128 }, (_, offset) => index + offset / 8),
      },
      labels: {
        dtype: 'int64',
        shape: [16],
        data: BigInt64Array.from({ length: 16 }, (_, offset) => BigInt(index * offset)),
      },
      weights: { dtype: 'float64', shape: [2], data: new Float64Array([index, -index]) },
      pixels: { dtype: 'uint8', shape: [4], data: new Uint8Array([index, 1, 2, 3]) },
      counts: { dtype: 'int32', shape: [1], data: new Int32Array([-index]) },
    }));
    const received = await echoThroughPython(tensorFrameCodec, frames);
    expect(received).toHaveLength(frames.length);
    received.forEach((frame, index) => {
      const sent = frames[index]!;
      expect(Object.keys(frame)).toEqual(Object.keys(sent));
      for (const [name, tensor] of Object.entries(sent)) {
        expect(frame[name]!.dtype).toBe(tensor.dtype);
        expect(frame[name]!.shape).toEqual(tensor.shape);
        const doubled = Array.from(tensor.data as ArrayLike<number | bigint>, (value) =>
          typeof value === 'bigint' ? value * 2n : tensor.dtype === 'uint8' ? (value * 2) & 255 : value * 2,
        );
        expect(Array.from(frame[name]!.data as ArrayLike<number | bigint>)).toEqual(doubled);
      }
    });
  });

  it('a Python reader refuses a ring created for another codec, naming both', async () => {
    const ring = await createRing({ capacityBytes: 4096, codec: 'json' });
    const output = await createRing({ capacityBytes: 4096, codec: 'msgpack' });
    const child = spawn(python, [`${fixtures}python_echo.py`, ring.path, output.path, 'msgpack'], {
      env: { ...process.env, PYTHONPATH: pythonModuleDirectory, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/speaks codec "msgpack" but ring .* was created for "json"/);
    expect(codecByName('json')).toBe(jsonCodec);
  });
});
