import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Job } from './index.js';

const directory = mkdtempSync(join(tmpdir(), 'millrace-dataflow-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

describe('sources', () => {
  it('reads a file by lines (LF and CRLF, no trailing newline) and large files in chunks', async () => {
    const small = file('lines.txt', 'one\r\ntwo\n\nthree');
    const big = file('big.txt', Array.from({ length: 50_000 }, (_, i) => `line ${i}`).join('\n'));
    const job = new Job();
    const lines = job.fromLines(small).collect();
    const count = job
      .fromLines(big)
      .keyBy(() => 'all')
      .process<number, number>({
        processElement(_line, context) {
          context.state.set((context.state.get() ?? 0) + 1);
        },
        onEnd(context) {
          for (const [, n] of context.entries()) context.emit(n);
        },
      })
      .collect();
    await job.execute();
    expect(lines.records).toEqual(['one', 'two', '', 'three']);
    expect(count.records).toEqual([50_000]);
  });

  it('reads JSON lines and names the line of bad JSON', async () => {
    const good = file('good.jsonl', '{"a":1}\n\n{"a":2}\n');
    const job = new Job();
    const out = job.fromJsonLines<{ a: number }>(good).collect();
    await job.execute();
    expect(out.records).toEqual([{ a: 1 }, { a: 2 }]);

    const bad = new Job();
    bad.fromJsonLines(file('bad.jsonl', '{"a":1}\n{oops\n'), { name: 'events' }).collect();
    await expect(bad.execute()).rejects.toThrow(/Operator 'events' .*bad\.jsonl line 2: invalid JSON/);
  });

  it('reads CSV with a header into typed records (quotes, extra columns ignored)', async () => {
    const path = file(
      'people.csv',
      'name,age,score,active,notes\n"Smith, J",42,3.5,true,x\nAda,36,-1e2,0,"say ""hi"""\n',
    );
    const job = new Job();
    const out = job
      .fromCsv(path, { columns: { name: 'string', age: 'integer', score: 'number', active: 'boolean' } })
      .collect();
    await job.execute();
    expect(out.records).toEqual([
      { name: 'Smith, J', age: 42, score: 3.5, active: true },
      { name: 'Ada', age: 36, score: -100, active: false },
    ]);
    const typed: number = out.records[0]!.age;
    expect(typed).toBe(42);
  });

  it('fails clearly on a CSV value of the wrong type or a missing column', async () => {
    const path = file('wrong.csv', 'name,age\nBob,forty\n');
    const job = new Job();
    job.fromCsv(path, { columns: { age: 'integer' } }).collect();
    await expect(job.execute()).rejects.toThrow(/wrong\.csv line 2, column 'age': 'forty' is not an integer/);
    const missing = new Job();
    missing.fromCsv(path, { columns: { height: 'number' } }).collect();
    await expect(missing.execute()).rejects.toThrow(/columns\.height: is not in the header/);
  });

  it('reads async iterables such as Node streams', async () => {
    const job = new Job();
    const out = job.fromIterable(Readable.from(['a', 'b', 'c'])).collect();
    await job.execute();
    expect(out.records).toEqual(['a', 'b', 'c']);
  });

  it('generate: bounded count split over subtasks, and a rate limit', async () => {
    const job = new Job();
    const all = job.generate((i) => i, { count: 101, parallelism: 3 }).collect();
    await job.execute();
    expect([...all.records].sort((a, b) => a - b)).toEqual(Array.from({ length: 101 }, (_, i) => i));

    const limited = new Job();
    const slow = limited.generate((i) => i, { count: 30, ratePerSecond: 300 }).collect();
    const started = performance.now();
    await limited.execute();
    expect(slow.records).toHaveLength(30);
    // 30 records at 300/s cannot take less than ~100 ms (a lower bound only; never an upper one).
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('a source with its own lifecycle', async () => {
    const job = new Job();
    const closed: number[] = [];
    const out = job
      .source<string>(
        ({ subtaskIndex }) => ({
          async run(context) {
            context.output.emit(`hello from ${subtaskIndex}`);
            await context.output.flush();
          },
          close() {
            closed.push(subtaskIndex);
          },
        }),
        { parallelism: 2 },
      )
      .collect();
    await job.execute();
    expect([...out.records].sort()).toEqual(['hello from 0', 'hello from 1']);
    expect(closed.sort()).toEqual([0, 1]);
  });
});

describe('sinks', () => {
  it('writes JSON lines and CSV files', async () => {
    const jsonl = join(directory, 'out.jsonl');
    const csv = join(directory, 'out.csv');
    const job = new Job();
    const rows = job.fromIterable([
      { user: 'a', clicks: 2, note: 'x,y' },
      { user: 'b', clicks: 3, note: 'say "hi"' },
    ]);
    rows.toFile(jsonl);
    rows.toFile(csv, { format: 'csv', columns: ['user', 'clicks', 'note'] });
    await job.execute();
    expect(readFileSync(jsonl, 'utf8')).toBe(
      '{"user":"a","clicks":2,"note":"x,y"}\n{"user":"b","clicks":3,"note":"say \\"hi\\""}\n',
    );
    expect(readFileSync(csv, 'utf8')).toBe('user,clicks,note\na,2,"x,y"\nb,3,"say ""hi"""\n');

    const back = new Job();
    const parsed = back
      .fromCsv(csv, { columns: { user: 'string', clicks: 'integer', note: 'string' } })
      .collect();
    await back.execute();
    expect(parsed.records[1]).toEqual({ user: 'b', clicks: 3, note: 'say "hi"' });
  });

  it('prints records to stdout, strings as they are and others as JSON', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const job = new Job();
      job.fromIterable<unknown>(['plain', { a: 1 }]).print({ prefix: '> ' });
      await job.execute();
      expect(write.mock.calls.map((call) => call[0]).join('')).toBe('> plain\n> {"a":1}\n');
    } finally {
      write.mockRestore();
    }
  });

  it('forEach awaits an async callback before the next record', async () => {
    const order: string[] = [];
    const job = new Job();
    job.fromIterable([1, 2]).forEach(async (n) => {
      order.push(`start ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(`end ${n}`);
    });
    await job.execute();
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });
});

describe('job options', () => {
  it('rejects bad options naming the field', () => {
    expect(() => new Job({ parallelism: 0 })).toThrow(/parallelism: must be a positive integer, got 0/);
    expect(() => new Job().fromIterable([1]).map((x) => x, { parallelism: 1.5 })).toThrow(/map\.parallelism/);
    expect(() => new Job().fromIterable([1], { parallelism: 2 })).toThrow(/runs with parallelism 1/);
  });

  it('a job runs once and needs a source', async () => {
    await expect(new Job().execute()).rejects.toThrow(/no sources/);
    const job = new Job();
    job.fromIterable([1]).collect();
    await job.execute();
    await expect(job.execute()).rejects.toThrow(/executed once/);
  });
});
