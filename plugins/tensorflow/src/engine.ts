/**
 * The TensorFlow engine: roles, completion and failure rules, and each node's environment.
 * The rules follow the seed's TensorFlow cluster: workers (and the chief) compute and finish;
 * parameter servers and the evaluator serve until the job stops them.
 */
import {
  type ClusterConfig,
  type ClusterView,
  type ConfigIssue,
  defineMLFramework,
  type FailurePolicy,
  type MLFrameworkV1,
  type NodeFailure,
  nodeFinished,
  parseWithSchema,
  type RoleDefinition,
  rolesFinished,
} from '@millrace/core';
import { z } from 'zod';
import { tensorflowPredictor } from './tensorflow-predictor.js';
import { tensorflowTrainer } from './tensorflow-trainer.js';
import { tensorflowPortName, tfConfigJson } from './tf-config.js';

export const tensorflowSettingsSchema = z
  .object({
    /**
     * `batch`: the job ends when the chief finishes (worker 0 when there is no chief), like a
     * bounded training run. `stream`: the job ends when every worker (and the chief) has finished,
     * i.e. when each worker's partition of the input stream has ended.
     */
    mode: z.enum(['batch', 'stream']).default('batch'),
    /**
     * `async`: each worker pushes gradients on its own; a failed worker restarts alone and pulls
     * the current variables. `sync`: the parameter servers aggregate one gradient per worker per
     * step, so any failure restarts the whole cluster from the last checkpoint.
     */
    training: z.enum(['async', 'sync']).default('async'),
    /**
     * `training`: the cluster trains (tensorflowTrainer). `prediction`: it serves a saved model
     * (tensorflowPredictor): the parameter servers hold read-only shards a restart reloads from
     * the checkpoint, and workers wait for a restarted one, so every failure restarts that node
     * alone (`restart-one`).
     */
    workload: z.enum(['training', 'prediction']).default('training'),
    /** Registered engine name; change it only to run two differently configured engines side by side. */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/)
      .default('tensorflow'),
  })
  .strict();

export type TensorflowSettingsInput = z.input<typeof tensorflowSettingsSchema>;
export type TensorflowSettings = z.output<typeof tensorflowSettingsSchema>;

const roles: readonly RoleDefinition[] = [
  {
    name: 'chief',
    description: 'worker 0 with extra duties: writes checkpoints; in batch mode its end is the job end',
    ports: [tensorflowPortName],
    lifecycle: 'finishes',
  },
  {
    name: 'worker',
    description: 'computes gradients on its partition of the input and pushes them to the parameter servers',
    ports: [tensorflowPortName],
    lifecycle: 'finishes',
  },
  {
    name: 'ps',
    description: 'parameter server: holds a shard of the variables and applies gradients to it',
    ports: [tensorflowPortName],
    lifecycle: 'serves',
  },
  {
    name: 'evaluator',
    description: 'evaluates checkpoints on the side; never part of the training cluster',
    ports: [tensorflowPortName],
    lifecycle: 'serves',
  },
];

export type TensorflowEngine = MLFrameworkV1 & { readonly settings: TensorflowSettings };

/** Creates a TensorFlow engine. `settings` is validated here; a bad field throws a ConfigError naming it. */
export function createTensorflowEngine(settings: TensorflowSettingsInput = {}): TensorflowEngine {
  const resolved = parseWithSchema(tensorflowSettingsSchema, settings, 'tensorflow settings');
  return defineMLFramework({
    specificationVersion: 'v1',
    name: resolved.name,
    settings: resolved,
    roles,
    validateConfig: (config: ClusterConfig) => validateLayout(config),
    isJobFinished: (view: ClusterView) => isJobFinished(resolved, view),
    failurePolicy: (failure: NodeFailure) => failurePolicy(resolved, failure),
    runners: { trainer: tensorflowTrainer, predictor: tensorflowPredictor },
    nodeEnvironment: ({ role, index, clusterSpec, checkpointDirectory }) => ({
      TF_CONFIG: tfConfigJson(clusterSpec, role, index),
      MILLRACE_CHECKPOINT_DIR: checkpointDirectory,
      MILLRACE_TF_TRAINING: resolved.training,
    }),
  });
}

/** The TensorFlow engine with default settings: batch mode, asynchronous training. */
export const tensorflow: TensorflowEngine = createTensorflowEngine();

function validateLayout(config: ClusterConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const count = (role: string) => config.roles[role]?.instances ?? 0;
  if (count('chief') === 0 && count('worker') === 0) {
    issues.push({ path: 'roles', message: 'a TensorFlow cluster needs a chief or at least one worker' });
  }
  for (const single of ['chief', 'evaluator']) {
    if (count(single) > 1) {
      issues.push({ path: `roles.${single}.instances`, message: `TensorFlow allows at most one ${single}` });
    }
  }
  return issues;
}

function isJobFinished(settings: TensorflowSettings, view: ClusterView): boolean {
  const hasChief = (view.roles.chief ?? 0) > 0;
  if (settings.mode === 'batch') {
    return hasChief ? nodeFinished(view, 'chief', 0) : nodeFinished(view, 'worker', 0);
  }
  const computing = ['chief', 'worker'].filter((role) => (view.roles[role] ?? 0) > 0);
  return rolesFinished(view, computing);
}

function failurePolicy(settings: TensorflowSettings, failure: NodeFailure): FailurePolicy {
  // A prediction shard is reloaded from the checkpoint and nobody else lost anything: workers
  // reconnect to it, and a worker's replay starts after its last written output.
  if (settings.workload === 'prediction') return 'restart-one';
  // The variables live on the parameter servers: losing one loses its shard, so everyone
  // restarts from the last checkpoint.
  if (failure.role === 'ps') return 'restart-all';
  // In sync mode every step waits on every worker; one missing replica stalls the rest.
  if (settings.training === 'sync') return 'restart-all';
  return 'restart-one';
}
