export { childProcessesOf, nodeScriptRunner, processesWithMarker, scriptedRunner } from './processes.js';
