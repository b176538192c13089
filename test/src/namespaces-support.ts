/** Network-namespace hosts (from @millrace/runtime/testing) running this checkout's built CLI. */
import { join } from 'node:path';
import { createNamespaceHosts as create, type NamespaceHosts } from '@millrace/runtime/testing';

export { type NamespaceHosts, namespacesAvailable, pidsIn } from '@millrace/runtime/testing';

export const millraceBin = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'dist', 'bin.js');

export function createNamespaceHosts<Name extends string>(
  names: readonly Name[],
  subnet: number,
): NamespaceHosts<Name> {
  return create(names, subnet, millraceBin);
}
