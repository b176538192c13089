/**
 * What a Millrace process killed with SIGKILL leaves behind, and who removes it. A process cannot
 * clean up after its own SIGKILL, so everything a job writes outside the user's chosen folders lives
 * under a directory named after its owning process, and every Millrace start (the `millrace` CLI,
 * every job's application manager, `launchLocalCluster`) removes the directories whose owner is dead:
 *
 * - `/dev/shm/millrace-<pid>-<hex>/`: the job's shared-memory rings (`@millrace/bridge-shm`);
 * - `<tmpdir>/millrace-<uid>/jobs/<pid>-<job>-XXXXXX/`: the job's temporary folder (its checkpoints
 *   when none was configured).
 *
 * A clean exit removes both itself (the ring directory at process exit, the job folder when the job
 * ends), so a sweep only finds the leftovers of crashed processes.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeFoldersOfDeadProcesses } from './private-directory.js';

/** Paths removed by {@link removeLeftoversOfDeadProcesses}. */
export interface RemovedLeftovers {
  ringDirectories: string[];
  jobFolders: string[];
}

/**
 * Removes the ring directories and job folders of dead Millrace processes of this user. Never
 * throws: a folder it may not remove (another user's) stays, and the ring addon is not needed
 * (the sweep is plain file operations; `@millrace/bridge-shm` is imported lazily).
 */
export async function removeLeftoversOfDeadProcesses(): Promise<RemovedLeftovers> {
  const removed: RemovedLeftovers = { ringDirectories: [], jobFolders: [] };
  const jobs = join(tmpdir(), `millrace-${process.getuid?.() ?? 'user'}`, 'jobs');
  try {
    if (existsSync(jobs))
      removed.jobFolders = removeFoldersOfDeadProcesses(jobs).map((name) => join(jobs, name));
  } catch {
    // Unreadable: the next job's createJobTemporaryDirectory reports it by name.
  }
  try {
    const bridge = await import('@millrace/bridge-shm');
    removed.ringDirectories = bridge.sweepStaleRingDirectories();
  } catch {
    // The bridge is a declared dependency; a broken install is reported when a ring is needed.
  }
  return removed;
}
