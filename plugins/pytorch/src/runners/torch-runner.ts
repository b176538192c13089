/**
 * `torchRunner(options)`: runs PyTorch code on a node, through the Python runner host of
 * `@millrace/bridge-python`. Two ways in:
 *
 * - `script`: a plain script written for torchrun. It reads RANK, WORLD_SIZE, MASTER_ADDR... from
 *   the environment the engine built and calls `init_process_group(..., init_method="env://")`;
 *   nothing in it needs to change.
 * - `entry`: `file.py:function` or `module:function`, called with the Millrace `Context` (input
 *   and output streams, checkpoint directory, attempt, metrics).
 *
 * Either way the interpreter must import torch (the runner picks one that can, e.g. Debian's
 * `/usr/bin/python3`), and `millrace_torch` plus the script's own directory are on `PYTHONPATH`.
 */
import { dirname, resolve } from 'node:path';
// The CPython host alone: the engine (which names this runner) must load without the dataflow runtime.
import { type PythonOutput, pythonRunner } from '@millrace/bridge-python/cpython';
import type { Runner } from '@millrace/core';
import { pytorchPythonDirectory } from '../python-directory.js';

/** Record codecs the Python side understands (see `@millrace/bridge-python`). */
export type TorchRecordCodec = 'raw' | 'json' | 'msgpack' | 'tensor';

export interface TorchRunnerOptions {
  /** A torchrun-style script, run as `__main__` with `args` in `sys.argv`. */
  script?: string | undefined;
  /** Arguments for `script`. */
  args?: readonly string[] | undefined;
  /** `file.py:function` or `module:function`, called with the Millrace `Context`. */
  entry?: string | undefined;
  /** The interpreter. Default: `MILLRACE_PYTHON`, else the first one found that imports torch. */
  python?: string | undefined;
  /** Working directory of the worker processes. Default: this process's. */
  cwd?: string | undefined;
  /** More directories for `PYTHONPATH` (after `millrace_torch` and the script's directory). */
  pythonPath?: readonly string[] | undefined;
  /** Extra environment variables, applied last. */
  env?: Readonly<Record<string, string>> | undefined;
  /**
   * How the Python side decodes input records. Default: the role's codec. For training give the
   * role `codec: tensorFrameCodec` (from `@millrace/bridge-shm`), which `millrace_torch.frame_dataset`
   * reads. Set and different from the role's codec, the runner fails at start naming both.
   */
  inputCodec?: TorchRecordCodec | undefined;
  /**
   * How the Python side encodes output records. Default: the role's codec (the role decodes them
   * with it). Set and different from it, the runner fails at start naming both.
   */
  outputCodec?: TorchRecordCodec | undefined;
  /** Bytes of each shared-memory ring. Default: the Python host's (4 MiB). */
  ringBytes?: number | undefined;
  /** Between SIGTERM and SIGKILL when a worker is stopped. Default 5000 ms. */
  gracePeriodMs?: number | undefined;
  /**
   * A worker silent this long (no heartbeat) is killed and counts as failed. Default 120 s:
   * torch's TCPStore holds the GIL while a worker waits to reach rank 0, which pauses the Python
   * host's heartbeat thread; on a loaded machine rank 0 can take tens of seconds to start. A worker
   * that exits is still seen at once.
   */
  livenessTimeoutMs?: number | undefined;
  /** Where worker output goes. Default: this process's stdout/stderr, prefixed `worker[i] `. */
  output?: PythonOutput | undefined;
  /**
   * The program acknowledges checkpoints (`millrace_torch.save_checkpoint`): a stream-mode role then has replay on
   * by default, and a restarted runner receives the records after its last checkpoint. Leave it
   * off for a program that never acknowledges: with replay on its buffer would fill and the role
   * fail after `replay.acknowledgeTimeoutMs`. Default false.
   */
  acknowledgesCheckpoints?: boolean | undefined;
}

const defaultLivenessTimeoutMs = 120_000;

export function torchRunner(options: TorchRunnerOptions): Runner {
  const scriptDirectory = options.script ? [dirname(resolve(options.cwd ?? '.', options.script))] : [];
  const entryFile = options.entry?.match(/^(.+\.py):[^:]+$/)?.[1];
  const entryDirectory = entryFile ? [dirname(resolve(options.cwd ?? '.', entryFile))] : [];
  return pythonRunner({
    script: options.script,
    args: options.args,
    entry: options.entry,
    python: options.python,
    requiredModules: ['torch'],
    cwd: options.cwd,
    // Like `python script.py`, the script's directory comes first, so its sibling modules import.
    pythonPath: [
      ...scriptDirectory,
      ...entryDirectory,
      pytorchPythonDirectory(),
      ...(options.pythonPath ?? []),
    ],
    env: options.env,
    inputCodec: options.inputCodec,
    outputCodec: options.outputCodec,
    ringBytes: options.ringBytes,
    gracePeriodMs: options.gracePeriodMs,
    livenessTimeoutMs: options.livenessTimeoutMs ?? defaultLivenessTimeoutMs,
    output: options.output,
    acknowledgesCheckpoints: options.acknowledgesCheckpoints,
  });
}
