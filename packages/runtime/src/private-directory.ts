/**
 * Directories only this user may touch. A checkpoint directory in a shared temporary folder with a
 * predictable name is a trap: another local user creates it first, plants a pickled checkpoint,
 * and the training code that loads it runs their code as us (as root, when root runs the node).
 * So a directory Millrace uses is created with mode 0700, and one that already exists is accepted
 * only when it is a real directory (not a link), owned by this user, and not writable by others.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@millrace/core';

export interface PrivateDirectoryOptions {
  /** What the directory is for, named in errors, e.g. `checkpointDirectory`. */
  purpose: string;
  /**
   * Also refuse a directory that others may read (mode bits for group/other): right for folders
   * Millrace names itself; a directory the user chose may be shared read-only on purpose.
   */
  privateToOwner?: boolean | undefined;
}

/** Creates `path` (mode 0700, parents as needed) or checks the existing one; throws a ConfigError. */
export function ensurePrivateDirectory(path: string, options: PrivateDirectoryOptions): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const stat = lstatSync(path);
  const refuse = (problem: string) => {
    throw new ConfigError([{ path: options.purpose, message: `'${path}' ${problem}` }], {
      subject: 'directory',
    });
  };
  if (stat.isSymbolicLink()) refuse('is a symbolic link; give the real directory');
  if (!stat.isDirectory()) refuse('exists and is not a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    refuse(
      `belongs to uid ${stat.uid}, not to this user (uid ${uid}): another user could have planted files there; remove it or choose a directory of your own`,
    );
  }
  const othersMask = options.privateToOwner ? 0o077 : 0o022;
  if ((stat.mode & othersMask) !== 0) {
    refuse(
      `has mode ${(stat.mode & 0o777).toString(8)}: others may ${options.privateToOwner ? 'read or write' : 'write'} it; chmod 700 it or choose another`,
    );
  }
  return path;
}

/**
 * `<tmpdir>/millrace-<uid>`: this user's own folder for what Millrace keeps between restarts
 * (default checkpoint directories), private to the user.
 */
export function userTemporaryDirectory(): string {
  const uid = process.getuid?.() ?? 'user';
  return ensurePrivateDirectory(join(tmpdir(), `millrace-${uid}`), {
    purpose: 'temporary directory',
    privateToOwner: true,
  });
}

/**
 * A temporary folder for one job (its checkpoints when none was configured), under this user's
 * folder and named after this process: `<tmpdir>/millrace-<uid>/jobs/<pid>-<name>-XXXXXX`. A clean
 * end removes it; a process killed with SIGKILL cannot, so every call first removes the folders
 * whose owning process is gone (they used to stay in /tmp forever).
 */
export function createJobTemporaryDirectory(name: string): string {
  const jobs = ensurePrivateDirectory(join(userTemporaryDirectory(), 'jobs'), {
    purpose: 'temporary directory',
    privateToOwner: true,
  });
  removeFoldersOfDeadProcesses(jobs);
  return mkdtempSync(join(jobs, `${process.pid}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
}

/** Removes `<pid>-…` folders under `directory` whose process no longer exists; returns their names. */
export function removeFoldersOfDeadProcesses(directory: string): string[] {
  const removed: string[] = [];
  for (const entry of readdirSync(directory)) {
    const pid = Number.parseInt(entry, 10);
    if (!Number.isInteger(pid) || pid <= 0 || processIsAlive(pid)) continue;
    rmSync(join(directory, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}
