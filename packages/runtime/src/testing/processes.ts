/**
 * Runners for tests: real child processes (`node -e <script>`), each tagged with a marker argument
 * so a test can prove afterwards that none of them outlived it (see `processesWithMarker`).
 */
import { readdirSync, readFileSync } from 'node:fs';
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

/** Pids of live processes whose command line contains `marker` (Linux /proc). */
export function processesWithMarker(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (commandLine.includes(marker) && state !== 'Z') found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Pids of the live children of `parentPid` (default: this process), from Linux /proc. */
export function childProcessesOf(parentPid: number = process.pid): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the name (field 2) may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parentPid && fields[0] !== 'Z') children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}
