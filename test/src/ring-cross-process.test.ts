// A million records through the shared-memory ring between processes in every pairing the product
// uses: Node -> Python (runner input), Python -> Node (runner output), Node -> Node in a child
// process and in a worker thread (TensorFlow.js runners). Both ends checksum what they saw.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createRing, pythonModuleDirectory, RingReader, RingWriter } from '@millrace/bridge-shm';
import { afterEach, describe, expect, it } from 'vitest';

const fixtures = fileURLToPath(new URL('../../bridges/shm/fixtures/', import.meta.url));
// The same record stream the fixture peers send (a plain ESM module shared with them).
const { checksum, streamRecord } = (await import(`${fixtures}stream.mjs`)) as {
  checksum(previous: number, record: Uint8Array): number;
  streamRecord(index: number): Uint8Array;
};
const python = process.env.MILLRACE_TEST_PYTHON ?? '/usr/bin/python3';
const recordCount = 1_000_000;
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface StreamSummary {
  count: number;
  crc: number;
}

/** Runs a fixture peer to completion and parses the summary it prints last. */
function runPeer(command: string, args: string[]): Promise<StreamSummary> {
  const child = spawn(command, args, {
    env: { ...process.env, PYTHONPATH: pythonModuleDirectory, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0)
        return reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}:\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as StreamSummary);
    });
  });
}

async function writeStream(path: string, count: number): Promise<StreamSummary> {
  const writer = await RingWriter.open(path);
  let crc = 0;
  for (let index = 0; index < count; ) {
    const batch: Uint8Array[] = [];
    for (const end = Math.min(count, index + 1000); index < end; index++) {
      const record = streamRecord(index);
      crc = checksum(crc, record);
      batch.push(record);
    }
    await writer.writeBatch(batch);
  }
  await writer.end();
  await writer.close();
  return { count, crc };
}

async function readStream(path: string): Promise<StreamSummary> {
  const reader = await RingReader.open(path);
  let crc = 0;
  let count = 0;
  for (;;) {
    const batch = await reader.readBatch(4096);
    if (batch === null) break;
    for (const record of batch) crc = checksum(crc, record);
    count += batch.length;
  }
  await reader.close();
  return { count, crc };
}

describe('ring across processes', () => {
  it('carries a million records from Node to Python intact', async () => {
    const { path } = await createRing({ capacityBytes: 1 << 20 });
    const [sent, received] = await Promise.all([
      writeStream(path, recordCount),
      runPeer(python, [`${fixtures}python_peer.py`, 'reader', path, 'all']),
    ]);
    expect(received).toEqual(sent);
    expect(received.count).toBe(recordCount);
    expect(existsSync(path)).toBe(false);
  });

  it('carries a million records from Python to Node intact', async () => {
    const { path } = await createRing({ capacityBytes: 1 << 20 });
    const [sent, received] = await Promise.all([
      runPeer(python, [`${fixtures}python_peer.py`, 'writer', path, String(recordCount)]),
      readStream(path),
    ]);
    expect(received).toEqual(sent);
    expect(received.count).toBe(recordCount);
    expect(existsSync(path)).toBe(false);
  });

  it('carries a million records from a child Node process to this one intact', async () => {
    const { path } = await createRing({ capacityBytes: 1 << 20 });
    const [sent, received] = await Promise.all([
      runPeer(process.execPath, [`${fixtures}node-peer.mjs`, 'writer', path, String(recordCount)]),
      readStream(path),
    ]);
    expect(received).toEqual(sent);
    expect(received.count).toBe(recordCount);
  });

  it('carries a million records from this thread to a worker thread intact', async () => {
    const { path } = await createRing({ capacityBytes: 1 << 20 });
    const worker = new Worker(new URL(`file://${fixtures}node-peer.mjs`), {
      workerData: ['reader', path, 'all'],
      execArgv: [],
    });
    const received = new Promise<StreamSummary>((resolve, reject) => {
      worker.on('message', resolve);
      worker.on('error', reject);
    });
    try {
      const sent = await writeStream(path, recordCount);
      expect(await received).toEqual(sent);
    } finally {
      await worker.terminate();
    }
  });
});
