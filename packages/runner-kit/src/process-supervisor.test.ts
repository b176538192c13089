import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { superviseProcess } from './process-supervisor.js';
import { processesWithMarker } from './testing/processes.js';

const marker = `millrace-supervisor-test-${randomUUID()}`;

afterEach(() => {
  expect(processesWithMarker(marker)).toEqual([]);
});

describe('superviseProcess', () => {
  it('rejects the start of a missing executable with the reason instead of hanging', async () => {
    const supervised = superviseProcess({ command: '/nonexistent/millrace-runner', args: [marker] });
    await expect(supervised.started).rejects.toThrow(
      /could not start '\/nonexistent\/millrace-runner': executable not found/,
    );
    const exit = await supervised.exit;
    expect(exit.spawnError?.message).toMatch(/executable not found/);
    expect(exit.exitCode).toBeNull();
  });

  it('forwards output line by line and keeps a bounded stderr tail', async () => {
    const lines: string[] = [];
    const supervised = superviseProcess({
      command: process.execPath,
      args: [
        '-e',
        'for (let i = 0; i < 10; i++) console.error("err " + i); console.log("out a\\nout b"); process.exit(4)',
        marker,
      ],
      onStdoutLine: (line) => lines.push(line),
      stderrTailLines: 3,
    });
    await supervised.started;
    const exit = await supervised.exit;
    expect(exit.exitCode).toBe(4);
    expect(lines).toEqual(['out a', 'out b']);
    expect(exit.stderrTail).toBe('err 7\nerr 8\nerr 9');
  });

  it('stops the whole process group, grandchildren included', async () => {
    const script = `
      const { spawn } = require('node:child_process');
      spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', process.argv[1]], { stdio: 'ignore' });
      console.log('ready');
      setInterval(() => {}, 1000);`;
    let ready!: () => void;
    const readySeen = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const supervised = superviseProcess({
      command: process.execPath,
      args: ['-e', script, marker],
      onStdoutLine: (line) => line === 'ready' && ready(),
    });
    await readySeen;
    await waitUntil(() => processesWithMarker(marker).length === 2);
    const exit = await supervised.stop(2_000);
    expect(exit.stopped).toBe(true);
    expect(exit.signal).toBe('SIGTERM');
    await waitUntil(() => processesWithMarker(marker).length === 0);
  });

  it('sends SIGKILL when the process ignores SIGTERM past the grace period', async () => {
    let ready!: () => void;
    const readySeen = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const supervised = superviseProcess({
      command: process.execPath,
      args: [
        '-e',
        'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)',
        marker,
      ],
      onStdoutLine: () => ready(),
    });
    await readySeen;
    const exit = await supervised.stop(100);
    expect(exit.signal).toBe('SIGKILL');
  });

  it('stops when its abort signal fires', async () => {
    const controller = new AbortController();
    const supervised = superviseProcess({
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)', marker],
      signal: controller.signal,
    });
    await supervised.started;
    controller.abort();
    const exit = await supervised.exit;
    expect(exit.stopped).toBe(true);
  });
});

describe('superviseProcess when its own process dies', () => {
  // A host program that supervises a runner, then is ended by a signal it does not handle itself.
  const host = (signal: string) => `
    const { superviseProcess } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'process-supervisor.ts')).href)});
    const runner = superviseProcess({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)', ${JSON.stringify(marker)}] });
    await runner.started;
    setInterval(() => {}, 1000);
    process.kill(process.pid, '${signal}');`;

  for (const signal of ['SIGINT', 'SIGTERM']) {
    it(`takes its runners along when it dies of an unhandled ${signal}`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', host(signal)], {
        stdio: 'ignore',
      });
      const ended = await new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('close', (_code, how) => resolve(how)),
      );
      expect(ended).toBe(signal); // it still dies of the signal, as it would without us
      await waitUntil(() => processesWithMarker(marker).length === 0);
    });
  }
});

describe('a runner never outlives its host (kill -9 of a node agent left its runner running under pid 1)', () => {
  it('the kernel kills the runner when its host dies of SIGKILL, which no exit hook can catch', async () => {
    const host = `
      const { superviseProcess } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'process-supervisor.ts')).href)});
      const runner = superviseProcess({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)', ${JSON.stringify(marker)}] });
      console.log(await runner.started);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', host], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const runnerPid = await new Promise<number>((resolve) =>
      child.stdout!.once('data', (chunk) => resolve(Number(String(chunk).trim()))),
    );
    expect(processesWithMarker(marker)).toContain(runnerPid);
    child.kill('SIGKILL');
    await waitUntil(() => processesWithMarker(marker).length === 0, 10_000);
  });

  it('the runner keeps its own pid and command line under the parent-death wrapper', async () => {
    const lines: string[] = [];
    const supervised = superviseProcess({
      command: process.execPath,
      args: ['-e', 'console.log(process.pid, process.ppid)', marker],
      onStdoutLine: (line) => lines.push(line),
    });
    const pid = await supervised.started;
    await supervised.exit;
    expect(lines).toEqual([`${pid} ${process.pid}`]);
  });

  it('a missing executable is still a rejected start, not an exit of the wrapper', async () => {
    const supervised = superviseProcess({ command: 'millrace-no-such-program', args: [marker] });
    await expect(supervised.started).rejects.toThrow(/executable not found/);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
