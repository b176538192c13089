export { childProcessesOf, processesWithMarker } from '@millrace/runner-kit/testing';
export {
  createNamespaceHosts,
  ip,
  type NamespaceHosts,
  type NamespaceLeftovers,
  namespacesAvailable,
  pidsIn,
  type StartedProcess,
} from './namespaces.js';
export { nodeScriptRunner, scriptedRunner } from './processes.js';
