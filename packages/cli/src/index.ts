export type { CliCommand, CliIo } from './command.js';
export { commands } from './commands/index.js';
export { runJob } from './commands/run.js';
export {
  builtInEngines,
  configFileNames,
  type FindEngineOptions,
  findEngine,
  projectRoot,
} from './engines.js';
export { loadJobModule, resolveJobEntry } from './job-loader.js';
export { createProgram, main } from './program.js';
export type { RunEvent, RunReporter } from './run/run-events.js';
