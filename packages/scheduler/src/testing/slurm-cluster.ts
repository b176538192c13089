/**
 * A real one-node Slurm for tests, from Debian's slurm-wlm and munge: a private munge daemon and
 * key, slurmctld and slurmd with free ports and a slurm.conf in a temporary directory, all started
 * in the foreground and stopped by PID. Talk to it with `environment` (it sets SLURM_CONF).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DependencyMissingError, MillraceTimeoutError } from '@millrace/core';
import { execa } from 'execa';

export interface SlurmCluster {
  /** The environment for sbatch/scontrol/scancel (and `millrace submit`): SLURM_CONF set. */
  environment: NodeJS.ProcessEnv;
  directory: string;
  /** Cancels every job, stops the daemons by PID and removes the directory. */
  stop(): Promise<void>;
}

const daemons = ['munged', 'slurmctld', 'slurmd'];

export async function startSlurmCluster(options: { readyTimeoutMs?: number } = {}): Promise<SlurmCluster> {
  for (const daemon of daemons) {
    const found = await execa('sh', ['-c', `command -v ${daemon} || test -x /usr/sbin/${daemon}`], {
      reject: false,
    });
    if (found.exitCode !== 0) {
      throw new DependencyMissingError(daemon, `${daemon} is missing: apt-get install slurm-wlm munge`);
    }
  }
  const directory = mkdtempSync(join(tmpdir(), 'millrace-slurm-'));
  const paths = {
    munge: join(directory, 'munge'),
    state: join(directory, 'state'),
    spool: join(directory, 'spool'),
    log: join(directory, 'log'),
  };
  for (const path of Object.values(paths)) mkdirSync(path, { recursive: true });
  // munged insists on a private key and a socket directory others can traverse.
  chmodSync(paths.munge, 0o755);
  writeFileSync(join(paths.munge, 'munge.key'), randomBytes(1024), { mode: 0o400 });
  const [controllerPort, daemonPort] = [await freePort(), await freePort()];
  const node = hostname();
  const configPath = join(directory, 'slurm.conf');
  writeFileSync(
    configPath,
    [
      'ClusterName=millrace-test',
      `SlurmctldHost=${node}(127.0.0.1)`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `SlurmctldPort=${controllerPort}`,
      `SlurmdPort=${daemonPort}`,
      'AuthType=auth/munge',
      `AuthInfo=socket=${paths.munge}/socket`,
      'CredType=cred/munge',
      `StateSaveLocation=${paths.state}`,
      `SlurmdSpoolDir=${paths.spool}`,
      `SlurmctldPidFile=${directory}/slurmctld.pid`,
      `SlurmdPidFile=${directory}/slurmd.pid`,
      `SlurmctldLogFile=${paths.log}/slurmctld.log`,
      `SlurmdLogFile=${paths.log}/slurmd.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SchedulerType=sched/backfill',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'ReturnToService=2',
      'MpiDefault=none',
      'JobAcctGatherType=jobacct_gather/none',
      // Keep finished jobs visible to scontrol for a while, and end cancelled tasks quickly.
      'MinJobAge=600',
      'KillWait=10',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${Math.max(2, cpus().length)} RealMemory=2000 State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const environment = { ...process.env, SLURM_CONF: configPath };
  const started: ChildProcess[] = [];
  const launch = (command: string, args: string[]) => {
    const child = spawn(command, args, { env: environment, stdio: 'ignore' });
    started.push(child);
    return child;
  };
  const stop = async () => {
    await execa('scancel', ['--full', '--user', process.env.USER ?? 'root'], {
      env: environment,
      reject: false,
      timeout: 10_000,
    });
    await waitForNoJobs(environment, 20_000).catch(() => undefined);
    for (const child of started.reverse()) await stopChild(child);
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    launch('munged', [
      '--foreground',
      '--force',
      `--socket=${paths.munge}/socket`,
      `--key-file=${paths.munge}/munge.key`,
      `--pid-file=${paths.munge}/munged.pid`,
      `--seed-file=${paths.munge}/seed`,
      `--log-file=${paths.log}/munged.log`,
    ]);
    await sleep(300);
    launch('slurmctld', ['-D', '-i']);
    launch('slurmd', ['-D']);
    await waitForIdleNode(environment, options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { environment, directory, stop };
}

async function waitForIdleNode(environment: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const result = await execa('sinfo', ['--noheader', '--format=%t'], {
      env: environment,
      reject: false,
      timeout: 5_000,
    });
    last = `${result.stdout}${result.stderr}`.trim();
    if (result.exitCode === 0 && /^idle/m.test(result.stdout)) return;
    await sleep(250);
  }
  throw new MillraceTimeoutError('the test Slurm node to be idle', timeoutMs, `sinfo said '${last}'`);
}

async function waitForNoJobs(environment: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await execa('squeue', ['--noheader'], { env: environment, reject: false, timeout: 5_000 });
    if (result.exitCode !== 0 || result.stdout.trim() === '') return;
    await sleep(250);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killed = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
  if (!killed) {
    child.kill('SIGKILL');
    await exited;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
