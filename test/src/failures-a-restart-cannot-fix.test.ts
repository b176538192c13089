/**
 * Errors that can never succeed are not retried: a missing executable or interpreter, or Python
 * code that raises at import, used to go through every restart with backoff (the import traceback
 * was printed 40 times). Each job here allows 3 restarts with a 1 s backoff: a retried failure
 * would show restarts > 0 and several starts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pythonRunner } from '@millrace/bridge-python';
import { JobFailedError, type Runner } from '@millrace/core';
import { createGenericEngine, launchLocalCluster, processRunner } from '@millrace/runtime';
import { afterAll, describe, expect, it } from 'vitest';

const directory = mkdtempSync(join(tmpdir(), 'millrace-permanent-failure-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

async function runOnce(runner: Runner) {
  let starts = 0;
  const cluster = launchLocalCluster({
    engine: createGenericEngine(),
    config: {
      name: 'permanent-failure',
      engine: 'generic',
      roles: { worker: { instances: 1 } },
      maxRestarts: 3,
      restartBackoff: { initialMs: 1_000, maxMs: 1_000 },
    },
    runnerFor: () => runner,
    onNodeEvent: (_node, event) => {
      if (event.type === 'registered') starts += 1;
    },
  });
  const outcome = await cluster.result;
  return { outcome, starts };
}

describe('failures a restart cannot fix fail the job at once', () => {
  it('a missing executable is not retried', async () => {
    const { outcome, starts } = await runOnce(
      processRunner({ command: join(directory, 'no-such-program'), output: 'ignore' }),
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.restarts).toBe(0);
    expect(starts).toBe(1);
    expect(outcome.reason).toMatch(/a restart cannot fix/);
    expect(outcome.error?.message).toMatch(/executable not found/);
  });

  it('a missing Python interpreter is not retried', async () => {
    const entry = join(directory, 'fine.py');
    writeFileSync(entry, 'def main(ctx):\n    pass\n');
    const { outcome, starts } = await runOnce(
      pythonRunner({ python: join(directory, 'no-such-python'), entry: `${entry}:main`, output: 'ignore' }),
    );
    expect(outcome.status).toBe('failed');
    expect([outcome.restarts, starts]).toEqual([0, 1]);
    expect(outcome.error?.message).toMatch(/no-such-python/);
  });

  it('a Python entry that raises at import fails once, with one copy of the traceback', async () => {
    const entry = join(directory, 'broken_import.py');
    writeFileSync(entry, 'import no_such_module_for_millrace\n\ndef main(ctx):\n    pass\n');
    const { outcome, starts } = await runOnce(
      pythonRunner({ python: '/usr/bin/python3', entry: `${entry}:main`, output: 'ignore' }),
    );
    expect(outcome.status).toBe('failed');
    expect([outcome.restarts, starts]).toEqual([0, 1]);
    expect(JobFailedError.isInstance(outcome.error)).toBe(true);
    const message = outcome.error!.message;
    expect(message).toMatch(/ModuleNotFoundError: No module named 'no_such_module_for_millrace'/);
    expect(message.match(/Traceback \(most recent call last\)/g)).toHaveLength(1);
  });

  it('a runtime error is still retried (restarts are for failures a restart can fix)', async () => {
    const entry = join(directory, 'flaky.py');
    writeFileSync(entry, 'def main(ctx):\n    raise RuntimeError("lost the lease")\n');
    const cluster = launchLocalCluster({
      engine: createGenericEngine(),
      config: {
        engine: 'generic',
        roles: { worker: { instances: 1 } },
        maxRestarts: 1,
        restartBackoff: { initialMs: 10, maxMs: 10 },
      },
      runnerFor: () => pythonRunner({ python: '/usr/bin/python3', entry: `${entry}:main`, output: 'ignore' }),
    });
    const outcome = await cluster.result;
    expect(outcome.status).toBe('failed');
    expect(outcome.restarts).toBe(1);
  });
});
