export {
  freePort,
  type ServerProcess,
  type ServerProcessOptions,
  startServerProcess,
} from './server-process.js';
