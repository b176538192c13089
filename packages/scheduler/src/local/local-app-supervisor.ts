/**
 * The supervisor of one local application, started detached by `millrace submit --scheduler
 * local` so the application outlives the command that submitted it (as a Slurm job outlives
 * `sbatch`). It starts each host in its own process group with its output in `host-I.log`,
 * records each exit in `host-I.exit`, stops the other hosts when one fails (Slurm's
 * `--kill-on-bad-exit`), stops every host on SIGTERM (`millrace stop`), and writes
 * `outcome.json` last.
 *
 * Usage: node local-app-supervisor.js APP_DIRECTORY
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { hostExitPath, hostLogPath } from '../host-files.js';
import { readJsonFile } from '../json-file.js';
import { hostStopGraceMs, type LocalApp, type LocalOutcome, localAppFiles } from './local-app.js';

const directory = process.argv[2];
if (!directory) {
  process.stderr.write('usage: local-app-supervisor APP_DIRECTORY\n');
  process.exit(2);
}
const app = readJsonFile<LocalApp>(localAppFiles.app(directory));
if (!app) {
  process.stderr.write(`local-app-supervisor: ${localAppFiles.app(directory)} is missing or unreadable\n`);
  process.exit(2);
}

function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

let stopping = false;
let failed = false;
const running = new Map<number, ChildProcess>();

function terminateHosts(): void {
  for (const child of running.values()) signalGroup(child, 'SIGTERM');
  setTimeout(() => {
    for (const child of running.values()) signalGroup(child, 'SIGKILL');
  }, hostStopGraceMs).unref();
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function hostEnded(index: number, exitCode: number): void {
  if (!running.delete(index)) return;
  writeAtomically(hostExitPath(directory as string, index), `${exitCode}\n`);
  if (exitCode !== 0 && !stopping && !failed) {
    failed = true;
    terminateHosts();
  }
  if (running.size === 0) {
    const outcome: LocalOutcome = {
      state: stopping && !failed ? 'stopped' : failed ? 'failed' : 'succeeded',
      finishedAt: new Date().toISOString(),
    };
    writeAtomically(localAppFiles.outcome(directory as string), `${JSON.stringify(outcome)}\n`);
    process.exit(0);
  }
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    terminateHosts();
  });
}

app.commands.forEach((argv, index) => {
  const log = openSync(hostLogPath(directory, index), 'a');
  const [command, ...args] = argv as [string, ...string[]];
  const child = spawn(command, args, {
    cwd: app.cwd,
    env: { ...process.env, ...app.environment },
    stdio: ['ignore', log, log],
    detached: true,
  });
  closeSync(log);
  running.set(index, child);
  child.on('error', (error) => {
    writeFileSync(
      hostLogPath(directory, index),
      `millrace: could not start host ${index}: ${error.message}\n`,
      {
        flag: 'a',
      },
    );
    hostEnded(index, 127);
  });
  child.on('exit', (code, signal) => {
    hostEnded(index, code ?? 128 + (signal ? constants.signals[signal] : 0));
  });
});
writeAtomically(
  localAppFiles.hostPids(directory),
  `${JSON.stringify([...running.values()].map((child) => child.pid ?? null))}\n`,
);
