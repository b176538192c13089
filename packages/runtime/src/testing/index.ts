export { childProcessesOf, processesWithMarker } from '@millrace/runner-kit/testing';
export { nodeScriptRunner, scriptedRunner } from './processes.js';
