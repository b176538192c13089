/** Network-namespace hosts (from @millrace/runtime/testing) running this checkout's built CLI. */
import { join } from 'node:path';
import { createNamespaceHosts as create, type NamespaceHosts } from '@millrace/runtime/testing';
import { expect } from 'vitest';

export { type NamespaceHosts, namespacesAvailable, pidsIn } from '@millrace/runtime/testing';

export const millraceBin = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'dist', 'bin.js');

export function createNamespaceHosts<Name extends string>(
  names: readonly Name[],
  subnet: number,
): NamespaceHosts<Name> {
  return create(names, subnet, millraceBin);
}

/**
 * The end of every namespace test: no process of the job is left in any namespace (or in those of
 * `hosts`), and no shared-memory file of the job in /dev/shm (the namespaces share this machine's).
 * A process told to stop gets `settleMs` (default 5 000) to exit.
 */
export async function expectNothingLeft<Name extends string>(
  hosts: NamespaceHosts<Name>,
  options?: { hosts?: readonly Name[]; settleMs?: number },
): Promise<void> {
  expect(await hosts.leftovers(options)).toEqual({ processes: [], sharedMemory: [] });
}
