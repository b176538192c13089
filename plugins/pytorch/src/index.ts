export { createPytorchEngine, type PytorchEngine, pytorch } from './engine.js';
export {
  type PytorchBackend,
  type PytorchEngineSettings,
  type PytorchEngineSettingsInput,
  parsePytorchEngineSettings,
  pytorchBackends,
  pytorchEngineSettingsSchema,
} from './settings.js';
export {
  masterRole,
  nodesInRankOrder,
  rankOf,
  rendezvousPort,
  torchrunEnvironment,
  workerRole,
} from './torchrun-environment.js';
