/**
 * `torchPredictionRunner(options)`: distributed Python prediction. Each node of the role loads the
 * model once (a factory the user names), then maps every input record (a tensor frame) to exactly
 * one output record, in input order, until the input ends: `{ ...other tensors, prediction }`,
 * msgpack-encoded for downstream. The Python half is `millrace_torch.predict:serve`.
 *
 * With `follow`, each node also follows the model versions published in a checkpoint directory
 * (`millrace_torch.save_checkpoint` publishes one per checkpoint): a background thread loads each
 * version's state dict into a copy of the factory's model, refuses unreadable, incompatible or
 * gate-rejected versions, and the loop swaps the newest in between two batches. Output records
 * then carry `model_version`.
 */

import { resolve } from 'node:path';
import type { Runner } from '@millrace/core';
import { ConfigError } from '@millrace/core';
import { type TorchRunnerOptions, torchRunner } from './torch-runner.js';

export interface TorchPredictionRunnerOptions
  extends Omit<TorchRunnerOptions, 'script' | 'args' | 'entry' | 'inputCodec' | 'outputCodec'> {
  /**
   * `file.py:function` or `module:function`, called with the Millrace `Context`; returns the model
   * (a `torch.nn.Module`, put in eval mode, or any callable from a batch tensor to a batch tensor).
   */
  model: string;
  /** Name of the feature tensor in each input frame. Default `features`. */
  features?: string | undefined;
  /** Most records per model call. Default 256. */
  batchSize?: number | undefined;
  /** Follow the model versions a training cluster publishes, swapping each in between two batches. */
  follow?: TorchFollowOptions | undefined;
}

export interface TorchFollowOptions {
  /** The training cluster's checkpoint directory (versions are published under `versions/`). */
  directory: string;
  /** `latest` (default): serve each newest version once loaded; `{ everyVersions: n }`: one in n. */
  policy?: 'latest' | { everyVersions: number } | undefined;
  /**
   * `file.py:function` or `module:function`, called in Python with the new version's manifest and
   * the serving one's (None for the factory's model; manifests carry the trainer's `metrics`);
   * the version serves only when it returns true. A rejected version never serves.
   */
  gate?: string | undefined;
  /** How often the versions directory is read. Default 100 ms. */
  pollMs?: number | undefined;
  /** Wait up to this long for the first version before scoring; without it the factory's model serves until then. */
  firstVersionTimeoutMs?: number | undefined;
}

export function torchPredictionRunner(options: TorchPredictionRunnerOptions): Runner {
  const issues = [];
  if (!/^[^:]+:[A-Za-z_][A-Za-z0-9_]*$/.test(options.model ?? '')) {
    issues.push({
      path: 'model',
      message: `'${options.model}' must look like 'file.py:function' or 'module:function'`,
    });
  }
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    issues.push({ path: 'batchSize', message: `must be a positive integer, got ${batchSize}` });
  }
  const follow = options.follow;
  const every = follow?.policy === undefined || follow.policy === 'latest' ? 1 : follow.policy.everyVersions;
  if (follow) {
    if (typeof follow.directory !== 'string' || follow.directory === '') {
      issues.push({ path: 'follow.directory', message: 'must be the checkpoint directory to follow' });
    }
    if (!Number.isInteger(every) || every < 1) {
      issues.push({
        path: 'follow.policy.everyVersions',
        message: `must be a positive integer, got ${every}`,
      });
    }
    if (follow.gate !== undefined && !/^[^:]+:[A-Za-z_][A-Za-z0-9_]*$/.test(follow.gate)) {
      issues.push({
        path: 'follow.gate',
        message: `'${follow.gate}' must look like 'file.py:function' or 'module:function'`,
      });
    }
    for (const field of ['pollMs', 'firstVersionTimeoutMs'] as const) {
      const value = follow[field];
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        issues.push({ path: `follow.${field}`, message: `must be a positive integer, got ${value}` });
      }
    }
  }
  if (issues.length) throw new ConfigError(issues, { subject: 'torchPredictionRunner options' });
  return torchRunner({
    ...options,
    entry: 'millrace_torch.predict:serve',
    inputCodec: 'tensor',
    outputCodec: 'msgpack',
    env: {
      ...options.env,
      MILLRACE_TORCH_MODEL: options.model,
      MILLRACE_TORCH_FEATURES: options.features ?? 'features',
      MILLRACE_TORCH_BATCH: String(batchSize),
      ...(follow
        ? {
            MILLRACE_TORCH_FOLLOW: resolve(follow.directory),
            MILLRACE_TORCH_FOLLOW_POLICY: every === 1 ? 'latest' : `every:${every}`,
            ...(follow.gate ? { MILLRACE_TORCH_FOLLOW_GATE: follow.gate } : {}),
            ...(follow.pollMs ? { MILLRACE_TORCH_FOLLOW_POLL_MS: String(follow.pollMs) } : {}),
            ...(follow.firstVersionTimeoutMs
              ? { MILLRACE_TORCH_FOLLOW_FIRST_MS: String(follow.firstVersionTimeoutMs) }
              : {}),
          }
        : {}),
    },
  });
}
