/**
 * Creates ring files (RING.md §1): a job-private directory (mode 0700) under /dev/shm, one file per
 * ring (mode 0600). The directory belongs to this process: it is removed when the process exits,
 * and directories left behind by a creator that was killed are swept by the next createRing().
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@millrace/core';
import { loadNativeRing } from './native-binding.js';

export interface CreateRingOptions {
  /** Data area size in bytes: a power of two, at least 4096. The largest record is this minus 8. */
  capacityBytes: number;
  /** Codec name recorded in the header (RING.md §9); readers and writers that name one must match. */
  codec?: string;
  /** Parent directory for the job directory; defaults to /dev/shm (or the OS temp directory without it). */
  directory?: string;
}

export interface RingLocation {
  /** The ring file; pass it to `RingWriter.open` / `RingReader.open` in any process. */
  path: string;
  /** The job-private directory holding it (removed when this process exits). */
  jobDirectory: string;
  capacityBytes: number;
  codec: string;
}

const jobDirectories = new Map<string, string>();
let ringCounter = 0;
let exitHookInstalled = false;

function defaultParentDirectory(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `millrace-<pid>-*` directories whose creating process is gone (a creator killed by SIGKILL). */
export function sweepStaleRingDirectories(parent: string = defaultParentDirectory()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const match = /^millrace-(\d+)-[0-9a-f]+$/.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(parent, name);
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Another user's directory or a race with another sweeper: not ours to insist on.
    }
  }
  return removed;
}

function removeJobDirectories(): void {
  for (const directory of jobDirectories.values()) rmSync(directory, { recursive: true, force: true });
  jobDirectories.clear();
}

function jobDirectoryFor(parent: string): string {
  const existing = jobDirectories.get(parent);
  if (existing && existsSync(existing)) return existing;
  sweepStaleRingDirectories(parent);
  const directory = join(parent, `millrace-${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(directory, { mode: 0o700, recursive: false });
  jobDirectories.set(parent, directory);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', removeJobDirectories);
  }
  return directory;
}

function validate(options: CreateRingOptions): string {
  const issues = [];
  const capacity = options?.capacityBytes;
  if (
    !Number.isSafeInteger(capacity) ||
    capacity < 4096 ||
    (capacity & (capacity - 1)) !== 0 ||
    capacity > 2 ** 30
  ) {
    issues.push({
      path: 'capacityBytes',
      message: `must be a power of two between 4096 and 2^30 bytes (got ${String(capacity)})`,
    });
  }
  const codec = options?.codec ?? 'raw';
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(codec)) {
    issues.push({
      path: 'codec',
      message: `must be 1 to 15 characters of [A-Za-z0-9_.-] (got ${JSON.stringify(codec)})`,
    });
  }
  if (issues.length) throw new ConfigError(issues, { subject: 'createRing options' });
  return codec;
}

/** Creates a ring file and returns where it is. Rejects with a ConfigError naming a bad option. */
export async function createRing(options: CreateRingOptions): Promise<RingLocation> {
  return createRingSync(options);
}

/** Synchronous form of {@link createRing}, for setup code that cannot await. */
export function createRingSync(options: CreateRingOptions): RingLocation {
  const codec = validate(options);
  const native = loadNativeRing();
  const jobDirectory = jobDirectoryFor(options.directory ?? defaultParentDirectory());
  ringCounter += 1;
  const path = join(jobDirectory, `ring-${ringCounter}-${randomBytes(4).toString('hex')}.shm`);
  native.createRingFile(path, options.capacityBytes, codec, process.pid);
  return { path, jobDirectory, capacityBytes: options.capacityBytes, codec };
}

/** Removes this process's job directories now (they are also removed at exit). */
export function removeRingDirectories(): void {
  removeJobDirectories();
}
