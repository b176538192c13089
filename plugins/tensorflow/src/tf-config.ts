/**
 * `TF_CONFIG` for Python TensorFlow, built from a Millrace cluster spec. The format is the one
 * TensorFlow documents for `tf.distribute.cluster_resolver.TFConfigClusterResolver`
 * (https://www.tensorflow.org/guide/distributed_training#setting_up_the_tf_config_environment_variable):
 *
 * ```json
 * {"cluster": {"chief": ["host:port"], "worker": ["host:port", ...], "ps": ["host:port", ...]},
 *  "task": {"type": "worker", "index": 0}}
 * ```
 *
 * The evaluator is a side-car task: TensorFlow expects it to be absent from `cluster` (its own
 * `task` still says `{"type": "evaluator", "index": 0}`), so that strategies do not wait for it.
 */
import { type ClusterSpec, ConfigError } from '@millrace/core';

/** The named port every TensorFlow node reserves; TensorFlow's gRPC server listens on it. */
export const tensorflowPortName = 'grpc';

/** Roles that appear in `TF_CONFIG.cluster`, in TensorFlow's order. */
const clusterRoles = ['chief', 'worker', 'ps'] as const;

export interface TfConfig {
  cluster: Partial<Record<(typeof clusterRoles)[number], string[]>>;
  task: { type: string; index: number };
}

/** Builds the `TF_CONFIG` object for `role[index]`. Throws a ConfigError for a node not in the spec. */
export function buildTfConfig(spec: ClusterSpec, role: string, index: number): TfConfig {
  const self = spec.roles[role]?.[index];
  if (!self) {
    throw new ConfigError([{ path: `roles.${role}`, message: `has no node ${index} in the cluster spec` }], {
      subject: 'TF_CONFIG',
    });
  }
  const cluster: TfConfig['cluster'] = {};
  for (const clusterRole of clusterRoles) {
    const nodes = spec.roles[clusterRole];
    if (!nodes || nodes.length === 0) continue;
    cluster[clusterRole] = nodes.map((node) => {
      const port = node.ports[tensorflowPortName];
      if (port === undefined) {
        throw new ConfigError(
          [
            {
              path: `roles.${clusterRole}.${node.index}.ports`,
              message: `has no '${tensorflowPortName}' port`,
            },
          ],
          { subject: 'TF_CONFIG' },
        );
      }
      return `${node.host}:${port}`;
    });
  }
  return { cluster, task: { type: role, index } };
}

/** `TF_CONFIG` as the JSON string Python TensorFlow reads from the environment. */
export function tfConfigJson(spec: ClusterSpec, role: string, index: number): string {
  return JSON.stringify(buildTfConfig(spec, role, index));
}
