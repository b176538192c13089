export { childProcessesOf, processesWithMarker } from './processes.js';
