import { MillraceError, type MillraceErrorOptions } from '@millrace/core';

/**
 * The cluster manager refused or failed an operation: `sbatch` rejected the script, the
 * Kubernetes API answered an error, a handle names no application. `scheduler` says which one,
 * and the message carries the scheduler's own words so the user can act on them.
 */
export class SchedulerError extends MillraceError {
  readonly scheduler: string;

  constructor(scheduler: string, message: string, options: MillraceErrorOptions = {}) {
    super('SCHEDULER', `${scheduler}: ${message}`, options);
    this.name = 'SchedulerError';
    this.scheduler = scheduler;
  }
}

/** A handle that names no application this scheduler knows (never submitted, or long gone). */
export class UnknownApplicationError extends MillraceError {
  readonly handle: string;

  constructor(handle: string, detail: string, options: MillraceErrorOptions = {}) {
    super('SCHEDULER', `unknown application ${handle}: ${detail}`, options);
    this.name = 'UnknownApplicationError';
    this.handle = handle;
  }
}
