/**
 * `torchPredictionRunner(options)`: distributed Python prediction. Each node of the role loads the
 * model once (a factory the user names), then maps every input record (a tensor frame) to exactly
 * one output record, in input order, until the input ends: `{ ...other tensors, prediction }`,
 * msgpack-encoded for downstream. The Python half is `millrace_torch.predict:serve`.
 */

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
    },
  });
}
