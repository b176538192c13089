import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closePyodideWorkers, python, pythonRunner } from '@millrace/bridge-python';
import { JobFailedError } from '@millrace/core';
import { Job } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine } from '@millrace/runtime';
import { afterAll, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/python_squares.py', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'millrace-python-cluster-'));
afterAll(() => {
  closePyodideWorkers();
  rmSync(scratch, { recursive: true, force: true });
});

interface Emitted {
  square?: number;
  node?: string;
  total?: number;
  count?: number;
}

function pythonCluster(job: Job, entry: string) {
  const engine = createGenericEngine({ roles: ['worker'] });
  addAMRole(
    job,
    { name: 'python-squares', engine: 'generic', roles: { worker: { instances: 2 } }, maxRestarts: 0 },
    { engine },
  );
  return { engine, entry };
}

describe('CPython runners in a pipeline (addRole + pythonRunner, records through shared memory)', () => {
  it('a Pyodide UDF feeds a Python cluster whose runners square records and report totals', async () => {
    const job = new Job({ name: 'python-squares', batchSize: 128 });
    pythonCluster(job, 'squares');
    const numbers = job
      .generate((index) => index + 1, { count: 2_000 })
      .mapBatches(
        python<number, number>('def parity_shift(n):\n    return n if n % 2 else -n\n', { maxWorkers: 1 }),
      );
    const results = addRole<number, Emitted>(job, 'worker', {
      instances: 2,
      input: numbers,
      runner: pythonRunner({ entry: `${fixture}:squares`, python: '/usr/bin/python3', output: 'ignore' }),
    }).collect();
    const outcome = await job.execute();
    expect(outcome.status).toBe('finished');
    const totals = results.records.filter((record) => record.total !== undefined);
    expect(totals.map((record) => record.node).sort()).toEqual(['worker[0]', 'worker[1]']);
    expect(totals.reduce((sum, record) => sum + record.count!, 0)).toBe(2_000);
    // Odd numbers stay positive, even ones were negated by the Pyodide step: 1 - 2 + 3 - 4 ... = -1000.
    expect(totals.reduce((sum, record) => sum + record.total!, 0)).toBe(-1_000);
    const squares = results.records.filter((record) => record.square !== undefined);
    expect(squares).toHaveLength(2_000);
    expect(squares.reduce((sum, record) => sum + record.square!, 0)).toBe((2_000 * 2_001 * 4_001) / 6);
  });

  it('a Python exception in a runner fails the job, and the job error carries the traceback', async () => {
    const job = new Job({ name: 'python-fails', batchSize: 16 });
    pythonCluster(job, 'fails_on_13');
    addRole<number, Emitted>(job, 'worker', {
      instances: 2,
      input: job.generate((index) => index, { count: 100 }),
      runner: pythonRunner({ entry: `${fixture}:fails_on_13`, python: '/usr/bin/python3', output: 'ignore' }),
    }).collect();
    const error = await job.execute().then(
      () => new Error('the job did not fail'),
      (caught: unknown) => caught as Error,
    );
    expect(error.message).toContain('ArithmeticError: unlucky record 13');
    expect(error.message).toContain('Traceback (most recent call last)');
    expect(error.message).toContain('in fails_on_13');
    const failed = JobFailedError.isInstance(error) ? error : (error.cause as JobFailedError | undefined);
    if (failed && 'failures' in failed) expect(failed.failures[0]?.role).toBe('worker');
  });

  it("a record larger than a runner's ring fails the job naming both sizes (the role's buffer writes it packed)", async () => {
    const job = new Job({ name: 'python-too-large', batchSize: 16 });
    pythonCluster(job, 'squares');
    addRole<number | string, Emitted>(job, 'worker', {
      instances: 2,
      input: job.generate((index) => (index === 50 ? 'x'.repeat(100_000) : index), { count: 100 }),
      runner: pythonRunner({
        entry: `${fixture}:squares`,
        python: '/usr/bin/python3',
        output: 'ignore',
        ringBytes: 65_536,
      }),
    }).collect();
    const error = await job.execute().then(
      () => new Error('the job did not fail'),
      (caught: unknown) => caught as Error,
    );
    // JSON: the string and its two quotes.
    expect(error.message).toContain(
      'A record of 100002 bytes does not fit the shared-memory ring carrying records to the Python runner, whose largest record is 65528 bytes',
    );
    expect(error.message).toContain('ringBytes, a power of two at least 100010');
  });

  // Records count as delivered once they are in a runner's ring: this stream is larger than the
  // rings and queues hold, so most of it is never taken. (Records left unread in a ring are not
  // counted: see the runtime README, "Replay".)
  it('runners that succeed without taking their whole input fail the job: records that never reached one are not a success', async () => {
    const entry = join(scratch, 'reads_ten.py');
    writeFileSync(
      entry,
      'def main(ctx):\n    for n, _ in enumerate(ctx.input):\n        if n == 9:\n            return\n',
    );
    const job = new Job({ name: 'python-reads-ten', batchSize: 16 });
    pythonCluster(job, 'reads_ten');
    addRole<string, Emitted>(job, 'worker', {
      instances: 2,
      input: job.generate((index) => `${index}`.padEnd(200, '.'), { count: 100_000 }),
      runner: pythonRunner({ entry: `${entry}:main`, python: '/usr/bin/python3', output: 'ignore' }),
    }).collect();
    const error = await job.execute().then(
      () => new Error('the job did not fail'),
      (caught: unknown) => caught as Error,
    );
    expect(error.message).toMatch(/worker\[[01]\]: \d+ of \d+ input records never reached a runner/);
  });
});
