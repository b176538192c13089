/**
 * Runners for tests: real child processes (`node -e <script>`), each tagged with a marker argument
 * so a test can prove afterwards that none of them outlived it (see `processesWithMarker`).
 */
import type { Runner } from '@millrace/core';
import type { ScriptedBehaviour } from '@millrace/core/testing';
import { processRunner } from '../process-runner.js';

const scripts: Record<ScriptedBehaviour, string> = {
  succeed: 'process.exit(0)',
  fail: "process.stderr.write('boom: the scripted runner fails\\n'); process.exit(3)",
  'fail-first-attempt':
    "if (process.env.MILLRACE_ATTEMPT === '0') { process.stderr.write('first attempt fails\\n'); process.exit(3) } process.exit(0)",
  'run-until-stopped': "setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0))",
};

export function nodeScriptRunner(script: string, marker: string): Runner {
  return processRunner({
    command: process.execPath,
    args: ['-e', script, marker],
    output: 'ignore',
    gracePeriodMs: 2_000,
  });
}

export function scriptedRunner(behaviour: ScriptedBehaviour, marker: string): Runner {
  return nodeScriptRunner(scripts[behaviour], marker);
}
