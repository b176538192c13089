import { describe, expect, it } from 'vitest';
import {
  defineJobModule,
  findJobModule,
  isJobModule,
  Job,
  type JobModuleContext,
  runJobModule,
} from './index.js';

describe('job modules', () => {
  it('runs with the context the CLI gives: args, signal, track and log', async () => {
    const tracked: Job[] = [];
    const logged: string[] = [];
    let seenArgs: string[] = [];
    const module = defineJobModule(async ({ args, signal, track, log }: JobModuleContext) => {
      seenArgs = args;
      const job = new Job({ name: 'numbers' });
      const out = job.fromIterable([1, 2, 3]).collect();
      track(job);
      await job.execute({ signal });
      log(`sum ${out.records.reduce((a, b) => a + b, 0)}`);
    });
    expect(isJobModule(module)).toBe(true);
    await runJobModule(module, {
      args: ['--rows', '3'],
      signal: new AbortController().signal,
      track: (job) => tracked.push(job),
      log: (message) => logged.push(message),
    });
    expect(seenArgs).toEqual(['--rows', '3']);
    expect(tracked.map((job) => job.name)).toEqual(['numbers']);
    expect(logged).toEqual(['sum 6']);
  });

  it('drops a leading -- separator from the arguments', async () => {
    let seen: string[] = [];
    const module = defineJobModule(async ({ args }) => {
      seen = args;
    });
    await runJobModule(module, { args: ['--', '--count', '3'], signal: new AbortController().signal });
    expect(seen).toEqual(['--count', '3']);
  });

  it('finds the job module among exports and explains when there is none', () => {
    const module = defineJobModule(async () => {});
    expect(findJobModule({ job: module, other: 1 })).toBe(module);
    expect(findJobModule({ main: module })).toBe(module);
    expect(() => findJobModule({ helper: () => {} }, 'jobs/x.js')).toThrow(
      /jobs\/x\.js exports no job module/,
    );
    expect(() => findJobModule({ a: module, b: defineJobModule(async () => {}) })).toThrow(
      /exports 2 job modules/,
    );
  });
});
