import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, DependencyMissingError, type RunnerResult } from '@millrace/core';
import { afterAll, describe, expect, it } from 'vitest';
import { recordingContext } from '../test-support.js';
import { findPython } from './find-python.js';
import { type PythonRunnerHandle, type PythonRunnerOptions, pythonRunner } from './python-runner.js';

const directory = mkdtempSync(join(tmpdir(), 'millrace-python-runner-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function userCode(name: string, source: string): string {
  const path = join(directory, name);
  writeFileSync(path, source);
  return path;
}

const lines: string[] = [];
const base: Partial<PythonRunnerOptions> = {
  python: '/usr/bin/python3',
  output: (line, stream) => lines.push(`${stream}: ${line}`),
};

async function start(options: PythonRunnerOptions, context = recordingContext()) {
  const handle = (await pythonRunner({ ...base, ...options }).start(context)) as PythonRunnerHandle;
  return { handle, context };
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('pythonRunner', () => {
  it('calls the entry function with a context that knows the node, and forwards its metrics', async () => {
    const entry = userCode(
      'identity.py',
      [
        'import os',
        'def main(ctx):',
        '    print("hello", ctx.role, ctx.index, ctx.generation, os.environ["RANK"], ctx.nodes("worker")[0]["host"])',
        '    ctx.report(loss=0.5, step=3)',
      ].join('\n'),
    );
    const { handle, context } = await start({ entry: `${entry}:main` });
    await handle.ready;
    await expect(handle.result).resolves.toEqual({ status: 'succeeded' });
    expect(lines).toContain('stdout: hello worker 0 1 0 127.0.0.1');
    expect(context.reported).toContainEqual({ loss: 0.5, step: 3 });
  });

  it('an uncaught Python exception fails the node with the traceback in the message', async () => {
    const entry = userCode(
      'raises.py',
      [
        'def load_batch(n):',
        '    raise ValueError(f"corrupt batch {n}")',
        'def main(ctx):',
        '    load_batch(7)',
      ].join('\n'),
    );
    const { handle } = await start({ entry: `${entry}:main` });
    const result = await handle.result;
    expect(result.status).toBe('failed');
    const failed = result as Extract<RunnerResult, { status: 'failed' }>;
    expect(failed.exitCode).toBe(1);
    expect(failed.message).toContain('uncaught Python exception ValueError: corrupt batch 7');
    expect(failed.message).toContain('Traceback (most recent call last)');
    expect(failed.message).toContain('in load_batch');
    // One copy of the traceback: the message has it, the tail does not repeat it.
    expect(failed.stderrTail ?? '').not.toContain('ValueError: corrupt batch 7');
    // A runtime error may be fixed by a restart.
    expect(failed.permanent).toBe(false);
  });

  it('an entry module that fails to import never becomes ready and fails with the import traceback', async () => {
    const entry = userCode(
      'broken_import.py',
      'import module_that_does_not_exist\ndef main(ctx):\n    pass\n',
    );
    const { handle } = await start({ entry: `${entry}:main` });
    await expect(handle.ready).rejects.toThrow(/exited before it was ready/);
    const result = (await handle.result) as Extract<RunnerResult, { status: 'failed' }>;
    expect(result.status).toBe('failed');
    expect(result.message).toContain(
      "uncaught Python exception ModuleNotFoundError: No module named 'module_that_does_not_exist'",
    );
  });

  it('a runner killed by a signal reports the signal', async () => {
    const entry = userCode(
      'killed.py',
      'import os, signal\ndef main(ctx):\n    os.kill(os.getpid(), signal.SIGKILL)\n',
    );
    const { handle } = await start({ entry: `${entry}:main` });
    const result = await handle.result;
    expect(result).toMatchObject({ status: 'failed', signal: 'SIGKILL' });
    expect((result as { message: string }).message).toContain('killed by SIGKILL');
  });

  it('stop() asks politely, and a runner that ignores SIGTERM is killed after the grace period', async () => {
    const entry = userCode(
      'stubborn.py',
      [
        'import signal, sys, time',
        'def main(ctx):',
        '    signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", file=sys.stderr, flush=True))',
        '    ctx.report(started=1)',
        '    while True:',
        '        time.sleep(0.01)',
      ].join('\n'),
    );
    const { handle, context } = await start({ entry: `${entry}:main`, gracePeriodMs: 300 });
    await expect.poll(() => context.reported.length).toBeGreaterThan(0);
    await handle.stop('test');
    expect(processExists(handle.pid)).toBe(false);
    expect(await handle.result).toEqual({ status: 'stopped' });
    expect(lines.some((line) => line.includes('ignoring SIGTERM'))).toBe(true);
  });

  it('on stop the Python side sees ctx.stopping and unwinds through finally blocks', async () => {
    const entry = userCode(
      'unwinds.py',
      [
        'def main(ctx):',
        '    try:',
        '        ctx.report(up=1)',
        '        ctx.wait_for_stop(20)',
        '    finally:',
        '        print("cleanup ran, stopping =", ctx.stopping)',
      ].join('\n'),
    );
    const { handle, context } = await start({ entry: `${entry}:main` });
    await expect.poll(() => context.reported.length).toBeGreaterThan(0);
    context.abort.abort('job stopped');
    await expect(handle.result).resolves.toEqual({ status: 'stopped' });
    expect(lines).toContain('stdout: cleanup ran, stopping = True');
  });

  it('a process that stops sending heartbeats (GIL held) is declared hung and killed', async () => {
    const entry = userCode(
      'hung.py',
      'import ctypes\ndef main(ctx):\n    ctx.report(up=1)\n    ctypes.PyDLL(None).sleep(60)  # holds the GIL\n',
    );
    const { handle } = await start({
      entry: `${entry}:main`,
      heartbeatIntervalMs: 100,
      livenessTimeoutMs: 1_000,
    });
    const result = await handle.result;
    expect(result).toMatchObject({ status: 'failed', signal: 'SIGKILL' });
    expect((result as { message: string }).message).toContain('no heartbeat');
  });

  it('runs a plain script with its arguments, cwd, PYTHONPATH and env from the options', async () => {
    const library = join(directory, 'lib');
    rmSync(library, { recursive: true, force: true });
    mkdirSync(library);
    writeFileSync(join(library, 'helper_module.py'), 'VALUE = 42\n');
    const script = userCode(
      'train.py',
      [
        'import os, sys, helper_module, millrace',
        'ctx = millrace.context()',
        'print("script", sys.argv[1:], os.getcwd(), helper_module.VALUE, os.environ["EXTRA"], os.environ["WORLD_SIZE"], ctx.role)',
        'sys.exit(3)',
      ].join('\n'),
    );
    const { handle } = await start({
      script,
      args: ['--epochs', '2'],
      cwd: library,
      pythonPath: [library],
      env: { EXTRA: 'yes' },
    });
    expect(await handle.result).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(lines).toContain(`stdout: script ['--epochs', '2'] ${library} 42 yes 1 worker`);
  });

  it('resolves a module:function entry through the extra PYTHONPATH', async () => {
    const packageDirectory = join(directory, 'modules', 'jobs');
    mkdirSync(packageDirectory, { recursive: true });
    writeFileSync(join(packageDirectory, '__init__.py'), '');
    writeFileSync(
      join(packageDirectory, 'train.py'),
      'def main(ctx):\n    print("module entry on", ctx.role)\n',
    );
    const { handle } = await start({ entry: 'jobs.train:main', pythonPath: [join(directory, 'modules')] });
    expect(await handle.result).toEqual({ status: 'succeeded' });
    expect(lines).toContain('stdout: module entry on worker');
  });

  it('rejects options that name no entry, or both', () => {
    expect(() => pythonRunner({})).toThrow(ConfigError);
    expect(() => pythonRunner({ entry: 'a:b', script: 'x.py' })).toThrow(/exactly one of entry/);
    expect(() => pythonRunner({ entry: 'no-function' })).toThrow(/module:function/);
  });
});

describe('findPython', () => {
  it('a missing interpreter is named in the error', async () => {
    const error = await findPython({ python: '/nonexistent/bin/python3' }).catch((caught: unknown) => caught);
    expect(DependencyMissingError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('/nonexistent/bin/python3: not found');
    expect((error as Error).message).toContain('(chosen by the python option)');
  });

  it('a missing module lists every candidate tried, what each lacked, and how to install it', async () => {
    const error = await findPython({ requiredModules: ['millrace_absent_module'] }).catch(
      (caught: unknown) => caught,
    );
    expect(DependencyMissingError.isInstance(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('that can import millrace_absent_module');
    expect(message).toMatch(/- \/usr\/bin\/python3 \(.*Python 3\.\d+\.\d+\): lacks millrace_absent_module/);
    expect(message).toContain('- python3');
    expect(message).toContain('- python');
    expect(message).toContain('apt-get install python3-millrace-absent-module');
    expect(message).toContain('pip install millrace_absent_module');
  });

  it('finds an interpreter that has torch by probing the candidates, and the runner start fails the same way', async () => {
    const found = await findPython({ requiredModules: ['torch'] });
    expect(found.command).toBe('/usr/bin/python3');
    const runner = pythonRunner({ entry: 'x:main', requiredModules: ['millrace_absent_module'] });
    await expect(Promise.resolve().then(() => runner.start(recordingContext()))).rejects.toThrow(
      /lacks millrace_absent_module/,
    );
  });
});

describe('a Python runner never outlives its agent (kill -9 of the agent left it under pid 1)', () => {
  it('is killed by the kernel when the process that started it dies of SIGKILL', async () => {
    const entry = userCode('sleeps.py', 'import time\ndef main(ctx):\n    time.sleep(120)\n');
    const module = (name: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, name)).href);
    const host = `
      const { pythonRunner } = await import(${module('python-runner.ts')});
      const { recordingContext } = await import(${module('../test-support.ts')});
      const handle = await pythonRunner({ python: '/usr/bin/python3', entry: ${JSON.stringify(`${entry}:main`)}, output: 'ignore' }).start(recordingContext());
      await handle.ready;
      console.log(handle.pid);
      setInterval(() => {}, 1000);`;
    // The host loads the workspace's TypeScript sources, as vitest does.
    const child = spawn(
      process.execPath,
      ['--conditions=millrace-source', '--import', 'tsx', '--input-type=module', '-e', host],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const pid = await new Promise<number>((resolve) =>
      child.stdout!.once('data', (chunk) => resolve(Number(String(chunk).trim()))),
    );
    expect(processExists(pid)).toBe(true);
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (processExists(pid) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 50));
    expect(processExists(pid)).toBe(false);
  }, 60_000);
});
