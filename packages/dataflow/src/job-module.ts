/**
 * The contract between a job file and the `millrace run` CLI. A job file exports a job module:
 *
 * ```ts
 * export const job = defineJobModule(async ({ args, signal, track, log }) => {
 *   const job = new Job({ name: 'clicks' });
 *   job.fromIterable(…).map(…).print();
 *   track(job);                       // the CLI shows its metrics while it runs
 *   await job.execute({ signal });    // Ctrl-C fires `signal`
 * });
 * if (isMainModule(import.meta.url)) await runJobModule(job);  // also runnable with plain `node`
 * ```
 *
 * The CLI imports the file, takes the export named `job` (or else the only export that
 * `isJobModule` accepts — `findJobModule` does this), and calls `run` with its context.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, type MLFramework } from '@millrace/core';
import type { Job } from './job.js';

const brand = Symbol.for('millrace.job-module');

export interface JobModuleContext {
  /**
   * Arguments after the job path: `millrace run examples/x -- --rows 10` gives `['--rows', '10']`
   * (a leading `--` is removed).
   */
  args: string[];
  /** Fires on Ctrl-C / SIGTERM; pass it to `job.execute({ signal })`. */
  signal: AbortSignal;
  /** Registers a job so the runner can show its progress (metrics, events). */
  track(job: Job): void;
  /** A line for the user (the CLI prints it above its progress view). */
  log(message: string): void;
  /**
   * The engine (`MLFramework`) called `name`, found as `millrace am --engine` finds one: built in,
   * listed in the project's millrace.config, or an installed package of that name. Present when
   * the job runs under `millrace run`.
   */
  engine?(name: string): Promise<MLFramework>;
}

export interface JobModule {
  readonly [brand]: true;
  run(context: JobModuleContext): Promise<void>;
}

export function defineJobModule(run: (context: JobModuleContext) => Promise<void>): JobModule {
  if (typeof run !== 'function') {
    throw new ConfigError(
      [{ path: 'run', message: 'defineJobModule needs an async function (context) => …' }],
      {
        subject: 'job module',
      },
    );
  }
  return {
    [brand]: true,
    // A leading `--` (the shell's end-of-options marker some runners pass through) is not an argument.
    run: (context) => run(context.args[0] === '--' ? { ...context, args: context.args.slice(1) } : context),
  };
}

export function isJobModule(value: unknown): value is JobModule {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** Picks the job module out of an imported file's exports: `job`, or the only job-module export. */
export function findJobModule(namespace: Record<string, unknown>, file = 'the module'): JobModule {
  if (isJobModule(namespace.job)) return namespace.job;
  const found = Object.values(namespace).filter(isJobModule);
  if (found.length === 1) return found[0]!;
  throw new ConfigError(
    [
      {
        path: 'exports',
        message:
          found.length === 0
            ? `${file} exports no job module; export one: export const job = defineJobModule(async (context) => { … })`
            : `${file} exports ${found.length} job modules; name the one to run 'job'`,
      },
    ],
    { subject: 'job module' },
  );
}

/** True when the file with this `import.meta.url` is the program node was started with. */
export function isMainModule(importMetaUrl: string): boolean {
  const main = process.argv[1];
  if (main === undefined) return false;
  try {
    return realpathSync(fileURLToPath(importMetaUrl)) === realpathSync(main);
  } catch {
    return false;
  }
}

export interface RunJobModuleOptions {
  /** Default: `process.argv.slice(2)`. */
  args?: string[];
  /** Default: fires on the first SIGINT or SIGTERM. */
  signal?: AbortSignal;
  log?: (message: string) => void;
  track?: (job: Job) => void;
}

/**
 * Runs a job module as a plain Node program: Ctrl-C cancels it, a failure prints the error and
 * sets `process.exitCode = 1`.
 */
export async function runJobModule(module: JobModule, options: RunJobModuleOptions = {}): Promise<void> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  if (options.signal === undefined) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    await module.run({
      args: options.args ?? process.argv.slice(2),
      signal: options.signal ?? controller.signal,
      track: options.track ?? (() => {}),
      log: options.log ?? ((message) => console.error(message)),
    });
  } catch (error) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
