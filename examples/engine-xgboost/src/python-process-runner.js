/**
 * A Runner that runs one Python process for a node, written against `@millrace/core`'s Runner
 * contract alone (an engine package does not depend on the Millrace runtime). The process gets
 * the engine's environment for the node, runs in its own process group so a stop reaches its
 * children too, and is killed when it does not leave within the grace period.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `millrace_xgboost` lives in this package; added to PYTHONPATH. */
export const pythonPackageDirectory = join(dirname(fileURLToPath(import.meta.url)), '..', 'python');

const stderrTailBytes = 4096;

/**
 * @param {{ python: string; args: readonly string[]; cwd?: string; gracePeriodMs: number }} options
 * @returns {import('@millrace/core').Runner}
 */
export function pythonProcessRunner(options) {
  return {
    description: [options.python, ...options.args].join(' '),
    start(context) {
      const environment = {
        ...process.env,
        ...context.environment,
        MILLRACE_ROLE: context.role,
        MILLRACE_INDEX: String(context.index),
        MILLRACE_ATTEMPT: String(context.attempt),
        MILLRACE_CHECKPOINT_DIR: context.checkpointDirectory,
        PYTHONPATH: [pythonPackageDirectory, process.env.PYTHONPATH].filter(Boolean).join(':'),
        PYTHONUNBUFFERED: '1',
      };
      const child = spawn(options.python, [...options.args], {
        cwd: options.cwd,
        env: environment,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const name = `${context.role}[${context.index}]`;
      let stderrTail = '';
      child.stdout.setEncoding('utf8').on('data', (text) => {
        for (const line of text.split('\n')) if (line) context.logger.info(`${name}: ${line}`);
      });
      child.stderr.setEncoding('utf8').on('data', (text) => {
        stderrTail = (stderrTail + text).slice(-stderrTailBytes);
        for (const line of text.split('\n')) if (line) context.logger.warn(`${name}: ${line}`);
      });
      let stopRequested = false;
      /** @type {Promise<import('@millrace/core').RunnerResult>} */
      const result = new Promise((resolve) => {
        child.once('error', (error) =>
          resolve({ status: 'failed', message: `could not start ${options.python}: ${error.message}` }),
        );
        child.once('close', (code, signal) => {
          if (stopRequested) resolve({ status: 'stopped' });
          else if (code === 0) resolve({ status: 'succeeded' });
          else {
            resolve({
              status: 'failed',
              message: `${name} exited with ${signal ? `signal ${signal}` : `code ${code}`}`,
              exitCode: code ?? undefined,
              signal: signal ?? undefined,
              stderrTail,
            });
          }
        });
      });
      const signalGroup = (signal) => {
        try {
          process.kill(-child.pid, signal);
        } catch {
          // The group is already gone.
        }
      };
      const stop = async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        stopRequested = true;
        signalGroup('SIGTERM');
        const killer = setTimeout(() => signalGroup('SIGKILL'), options.gracePeriodMs);
        await result;
        clearTimeout(killer);
      };
      context.signal.addEventListener('abort', () => void stop(), { once: true });
      return { result, stop };
    },
  };
}
