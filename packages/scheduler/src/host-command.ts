import type { SubmitRequest } from './scheduler.js';

/**
 * The command one host of an application runs. Every scheduler builds it here, so a job runs the
 * same way under each of them: `millrace run --hosts N --host-index I --shared-dir D JOB ARGS…`.
 * The host options come before the job because everything after the job belongs to the job.
 * `hostIndex` is text so a scheduler can pass its own variable (`$SLURM_PROCID`).
 */
export function hostCommand(
  request: SubmitRequest,
  where: {
    hostIndex: string;
    sharedDirectory: string;
    /** Options only host 0 acts on (how it serves the application manager); placed before the job. */
    hostZeroOptions?: readonly string[];
  },
): string[] {
  return [
    ...request.millraceCommand,
    'run',
    '--hosts',
    String(request.hosts),
    '--host-index',
    where.hostIndex,
    '--shared-dir',
    where.sharedDirectory,
    ...(where.hostZeroOptions ?? []),
    request.job,
    ...request.jobArguments,
  ];
}

/** Quotes one word for a POSIX shell (single quotes; a single quote becomes '\''). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
