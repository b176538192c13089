export {
  childProcessesOf,
  descendantsOf,
  type ProcessEntry,
  processesWithMarker,
  processTable,
} from './processes.js';
