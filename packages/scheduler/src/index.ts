export {
  type AppHandle,
  applicationName,
  formatAppHandle,
  parseAppHandle,
  type SchedulerName,
  schedulerNames,
} from './app-handle.js';
export { SchedulerError, UnknownApplicationError } from './errors.js';
export { hostCommand } from './host-command.js';
export { createKubernetesScheduler } from './kubernetes/kubernetes-scheduler.js';
export {
  type ApplicationManifests,
  type JoinSecret,
  type KubernetesOptions,
  kubernetesManifests,
  manifestsYaml,
} from './kubernetes/manifests.js';
export { createLocalScheduler, type LocalSchedulerOptions } from './local/local-scheduler.js';
export type { AppState, AppStatus, HostLog, HostStatus, Scheduler, SubmitRequest } from './scheduler.js';
export {
  exitCodeOf,
  type SchedulerOptionsByName,
  schedulerFor,
  schedulerOfHandle,
  waitForApplication,
} from './schedulers.js';
export { type SlurmOptions, sbatchScript } from './slurm/sbatch-script.js';
export { createSlurmScheduler } from './slurm/slurm-scheduler.js';
export { stateDirectory } from './state-directory.js';
