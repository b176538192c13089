export { nodeScriptRunner, processesWithMarker, scriptedRunner } from './processes.js';
