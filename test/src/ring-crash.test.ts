// A peer killed with SIGKILL must not leave the survivor waiting: it notices (pid liveness, checked
// every 50 ms while it waits), fails with PeerDiedError within a bound, and removes the ring file.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  ChannelClosedError,
  createRing,
  pythonModuleDirectory,
  RingReader,
  RingWriter,
} from '@millrace/bridge-shm';
import { PeerDiedError } from '@millrace/core';
import { afterEach, describe, expect, it } from 'vitest';

const fixtures = fileURLToPath(new URL('../../bridges/shm/fixtures/', import.meta.url));
const python = process.env.MILLRACE_TEST_PYTHON ?? '/usr/bin/python3';
/** Generous on a loaded CI box; the liveness check itself runs every 50 ms. */
const detectionBoundMs = 5_000;
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Starts a fixture peer and resolves once it printed `ready` (it has attached to the ring). */
async function startPeer(command: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(command, args, {
    env: { ...process.env, PYTHONPATH: pythonModuleDirectory, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      if (stdout.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`peer exited ${code} before it was ready:\n${stderr}`)));
  });
  return child;
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('ring peer crashes', () => {
  it('fails the reader when the writer (a Node process) is killed mid-stream, and removes the file', async () => {
    const { path } = await createRing({ capacityBytes: 1 << 16 });
    const writer = await startPeer(process.execPath, [`${fixtures}node-peer.mjs`, 'writer', path, 'forever']);
    const reader = await RingReader.open(path);
    let received = 0;
    let killedAt = 0;
    const error = await (async () => {
      for await (const _ of reader) {
        received++;
        if (received === 10_000) {
          await killed(writer);
          killedAt = performance.now();
        }
      }
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PeerDiedError);
    expect((error as PeerDiedError).pid).toBe(writer.pid);
    expect(received).toBeGreaterThanOrEqual(10_000);
    expect(performance.now() - killedAt).toBeLessThan(detectionBoundMs);
    expect(existsSync(path)).toBe(false);
    await reader.close();
  });

  it('fails a writer blocked on a full ring when the reader (a Python process) is killed, and removes the file', async () => {
    const { path } = await createRing({ capacityBytes: 4096 });
    const reader = await startPeer(python, [`${fixtures}python_peer.py`, 'reader', path, 'stall']);
    const writer = await RingWriter.open(path);
    await writer.write(new Uint8Array(4000));
    const blocked = writer.write(new Uint8Array(4000)).catch((caught: unknown) => caught);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await killed(reader);
    const killedAt = performance.now();
    const error = await blocked;
    expect(error).toBeInstanceOf(PeerDiedError);
    expect((error as Error).message).toMatch(/reader process \(pid \d+\).*died/);
    expect(performance.now() - killedAt).toBeLessThan(detectionBoundMs);
    expect(existsSync(path)).toBe(false);
    await writer.close();
  });

  it('fails the reader when a Python writer is killed mid-stream', async () => {
    const { path } = await createRing({ capacityBytes: 1 << 16 });
    const writer = await startPeer(python, [`${fixtures}python_peer.py`, 'writer', path, 'forever']);
    const reader = await RingReader.open(path);
    expect((await reader.readBatch(100))?.length).toBeGreaterThan(0);
    await killed(writer);
    const error = await (async () => {
      for await (const _ of reader);
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PeerDiedError);
    expect(existsSync(path)).toBe(false);
    await reader.close();
  });

  it('fails the writer, without crashing, when a worker thread holding the reader is terminated', async () => {
    const { path } = await createRing({ capacityBytes: 4096 });
    const worker = new Worker(new URL(`file://${fixtures}node-peer.mjs`), {
      workerData: ['reader', path, 'stall'],
      execArgv: [],
    });
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    const writer = await RingWriter.open(path);
    const blocked = writer
      .writeBatch(Array.from({ length: 10 }, () => new Uint8Array(1000)))
      .catch((caught: unknown) => caught);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await worker.terminate();
    expect(await blocked).toBeInstanceOf(ChannelClosedError);
    await writer.close();
    expect(existsSync(path)).toBe(false);
  });

  it('fails a Node writer blocked on a full ring when a reader in a child Node process is killed', async () => {
    const { path } = await createRing({ capacityBytes: 4096 });
    const reader = await startPeer(process.execPath, [`${fixtures}node-peer.mjs`, 'reader', path, 'stall']);
    const writer = await RingWriter.open(path);
    const blocked = writer
      .writeBatch(Array.from({ length: 10 }, () => new Uint8Array(1000)))
      .catch((caught: unknown) => caught);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await killed(reader);
    expect(await blocked).toBeInstanceOf(PeerDiedError);
    expect(existsSync(path)).toBe(false);
    await writer.close();
  });
});
