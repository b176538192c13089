import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAppHandle } from '../app-handle.js';
import type { SubmitRequest } from '../scheduler.js';
import { exitCodeOf, waitForApplication } from '../schedulers.js';
import { createLocalScheduler } from './local-scheduler.js';

const hostProgram = fileURLToPath(new URL('../test-fixtures/host-program.mjs', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'millrace-local-apps-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const scheduler = createLocalScheduler({ environment: { ...process.env, MILLRACE_STATE_DIR: work } });
const submitted = async (job: string) => {
  const request: SubmitRequest = {
    job: join(work, job),
    jobArguments: [],
    hosts: 2,
    name: job,
    millraceCommand: [process.execPath, hostProgram],
  };
  const text = await scheduler.submit(request, { cwd: work });
  const handle = parseAppHandle(text);
  return {
    text,
    handle,
    directory: join(work, 'apps', 'local', handle.scheduler === 'local' ? handle.id : ''),
  };
};

describe('the local scheduler', () => {
  it('runs N host processes that outlive the submitter, and reports success', async () => {
    const { text, handle, directory } = await submitted('succeed');
    expect(text).toMatch(/^local:\/\/succeed-[a-z0-9]+-[0-9a-f]{6}$/);
    const status = await waitForApplication(scheduler, handle, { timeoutMs: 30_000 });
    expect(status).toMatchObject({
      state: 'succeeded',
      hosts: [
        { index: 0, exitCode: 0 },
        { index: 1, exitCode: 0 },
      ],
    });
    const args = JSON.parse(readFileSync(join(directory, 'seen-1.json'), 'utf8')).args;
    expect(args).toEqual([
      'run',
      '--hosts',
      '2',
      '--host-index',
      '1',
      '--shared-dir',
      directory,
      join(work, 'succeed'),
    ]);
    expect(await scheduler.logs(handle)).toEqual([
      { host: 0, text: 'host 0 of 2 running succeed\n' },
      { host: 1, text: 'host 1 of 2 running succeed\n' },
    ]);
  });

  it('a failing host stops the others and is named', async () => {
    const { handle, directory } = await submitted('fail-1');
    const status = await waitForApplication(scheduler, handle, { timeoutMs: 30_000 });
    expect(status.state).toBe('failed');
    expect(exitCodeOf(status)).toBe(1);
    expect(status.message).toMatch(/^host 1 exited with code 3; its last lines:\n[\s\S]*worker\[1\]/);
    // Host 0 was ended because host 1 failed: stopped, not blamed, and gone.
    expect(status.hosts[0]?.state).toBe('stopped');
    const hostPids = JSON.parse(readFileSync(join(directory, 'hosts.json'), 'utf8')) as number[];
    expect(hostPids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
  });

  it('stop ends every host; none is left', async () => {
    const { handle, directory } = await submitted('sleep');
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(directory, 'pid-1')) || !existsSync(join(directory, 'pid-0'))) {
      if (Date.now() > deadline) throw new Error('hosts never started');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const pids = [0, 1].map((host) => Number(readFileSync(join(directory, `pid-${host}`), 'utf8')));
    const status = await scheduler.stop(handle);
    expect(status.state).toBe('stopped');
    expect(exitCodeOf(status)).toBe(130);
    expect(pids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
  });

  it('names a handle it does not know', async () => {
    writeFileSync(join(work, 'x'), '');
    await expect(scheduler.status(parseAppHandle('local://nothing-here'))).rejects.toThrow(
      /unknown application local:\/\/nothing-here: no local application with that id/,
    );
  });
});
