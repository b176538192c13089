/**
 * millrace-engine-xgboost: distributed XGBoost (rabit) as a Millrace engine.
 *
 * Roles: one `tracker` (serves; reserves the `tracker` port that the cluster spec publishes) and N
 * `worker`s (finish). Every node gets DMLC_NUM_WORKER, DMLC_TRACKER_URI and DMLC_TRACKER_PORT;
 * a worker also gets DMLC_TASK_ID and passes the DMLC_* variables to
 * `xgb.collective.CommunicatorContext(**env)`. The tracker assigns ranks by host, not by task id,
 * so a worker reads its rank from `xgb.collective.get_rank()`.
 *
 * Failure: when a worker dies the others fail fast but the tracker waits forever for the missing
 * worker, so any failure restarts the whole cluster, tracker included.
 */
import { defineMLFramework, rolesFinished } from '@millrace/core';
import { pythonProcessRunner } from './python-process-runner.js';

export const trackerRole = 'tracker';
export const workerRole = 'worker';
export const trackerPort = 'tracker';

const defaultPython = '/usr/bin/python3';

/**
 * The rabit tracker, started on the port the cluster spec published for it.
 * @param {{ python?: string; gracePeriodMs?: number }} [options]
 */
export function xgboostTracker(options = {}) {
  return pythonProcessRunner({
    python: options.python ?? defaultPython,
    args: ['-m', 'millrace_xgboost.tracker'],
    gracePeriodMs: options.gracePeriodMs ?? 5_000,
  });
}

/**
 * A worker: a Python training script that joins the tracker with
 * `xgb.collective.CommunicatorContext(**{k: v for k, v in os.environ.items() if k.startswith('DMLC_')})`.
 * @param {{ script: string; args?: readonly string[]; python?: string; cwd?: string; gracePeriodMs?: number }} options
 */
export function xgboostWorker(options) {
  if (!options || typeof options.script !== 'string' || options.script === '') {
    throw new TypeError("xgboostWorker: options.script must be the path of the worker's Python script");
  }
  return pythonProcessRunner({
    python: options.python ?? defaultPython,
    args: [options.script, ...(options.args ?? [])],
    cwd: options.cwd,
    gracePeriodMs: options.gracePeriodMs ?? 5_000,
  });
}

/**
 * @param {{ name?: string }} [settings]
 * @returns {import('@millrace/core').MLFramework}
 */
export function createXgboostEngine(settings = {}) {
  return defineMLFramework({
    specificationVersion: 'v1',
    name: settings.name ?? 'xgboost',
    roles: [
      {
        name: trackerRole,
        description: 'the rabit tracker: workers meet through it (one instance)',
        ports: [trackerPort],
        lifecycle: 'serves',
        required: true,
      },
      {
        name: workerRole,
        description: 'one XGBoost training process',
        lifecycle: 'finishes',
        required: true,
      },
    ],
    validateConfig(config) {
      const tracker = config.roles[trackerRole];
      return tracker && tracker.instances !== 1
        ? [{ path: `roles.${trackerRole}.instances`, message: `must be 1, got ${tracker.instances}` }]
        : [];
    },
    isJobFinished: (view) => rolesFinished(view, [workerRole]),
    // Survivors fail fast but the tracker hangs on a lost worker: start everyone again.
    failurePolicy: () => 'restart-all',
    nodeEnvironment({ role, index, clusterSpec }) {
      const tracker = clusterSpec.roles[trackerRole]?.[0];
      const port = tracker?.ports[trackerPort];
      if (!tracker || port === undefined)
        throw new Error('the cluster spec has no tracker node with a tracker port');
      return {
        DMLC_NUM_WORKER: String(clusterSpec.roles[workerRole]?.length ?? 0),
        DMLC_TRACKER_URI: tracker.host,
        DMLC_TRACKER_PORT: String(port),
        ...(role === workerRole ? { DMLC_TASK_ID: String(index) } : {}),
      };
    },
    runners: { tracker: xgboostTracker, worker: xgboostWorker },
  });
}

/** The engine with default settings; `millrace am --engine millrace-engine-xgboost` loads it. */
export const xgboost = createXgboostEngine();

export default xgboost;
