/**
 * The PyTorch engine: synchronous data-parallel training (DDP). Every rank must be present for a
 * collective to complete, so a failure of any node restarts the whole cluster (bounded by the
 * config's `maxRestarts`); the job is finished when every training node finished.
 */
import {
  type ClusterConfig,
  type ConfigIssue,
  defineMLFramework,
  everyNodeRegistered,
  type MLFrameworkV1,
  rolesFinished,
} from '@millrace/core';
import { torchPredictionRunner } from './runners/torch-prediction-runner.js';
import { torchRunner } from './runners/torch-runner.js';
import { type PytorchEngineSettingsInput, parsePytorchEngineSettings } from './settings.js';
import { masterRole, rendezvousPort, torchrunEnvironment, workerRole } from './torchrun-environment.js';

export type PytorchEngine = MLFrameworkV1;

export function createPytorchEngine(settingsInput: PytorchEngineSettingsInput = {}): PytorchEngine {
  const settings = parsePytorchEngineSettings(settingsInput);
  return defineMLFramework({
    specificationVersion: 'v1',
    name: settings.name,
    roles: [
      {
        name: workerRole,
        description: 'a torch.distributed training process; worker 0 is rank 0 and hosts the rendezvous',
        // Every worker reserves the port so any of them can be rank 0 in a layout without a master;
        // only rank 0's is used. A reservation is a bound socket, released right before Python starts.
        ports: [rendezvousPort],
        lifecycle: 'finishes',
        required: true,
      },
      {
        name: masterRole,
        description: 'optional: a separate rank-0 process hosting the rendezvous (one instance)',
        ports: [rendezvousPort],
        lifecycle: 'finishes',
      },
    ],
    validateConfig(config: ClusterConfig): ConfigIssue[] {
      const issues: ConfigIssue[] = [];
      const master = config.roles[masterRole];
      if (master && master.instances !== 1) {
        issues.push({
          path: `roles.${masterRole}.instances`,
          message: `must be 1 (the master is rank 0), got ${master.instances}; leave the role out to fold it into worker 0`,
        });
      }
      for (const key of Object.keys(config.engineOptions)) {
        issues.push({
          path: `engineOptions.${key}`,
          message: `the pytorch engine takes no engineOptions; pass settings to createPytorchEngine({ ... }) instead`,
        });
      }
      return issues;
    },
    isClusterComplete: everyNodeRegistered,
    isJobFinished: (view) => rolesFinished(view, [masterRole, workerRole]),
    // DDP cannot continue without a rank: restart everyone from the last checkpoint.
    failurePolicy: () => 'restart-all',
    nodeEnvironment: (input) => torchrunEnvironment(input, settings),
    runners: { torch: torchRunner, prediction: torchPredictionRunner },
  });
}

/** The PyTorch engine with default settings (backend `auto`, one OpenMP thread per worker). */
export const pytorch: PytorchEngine = createPytorchEngine();
