/**
 * Hosts made of network namespaces, for the multi-host tests and the multi-host benchmark: each host is a namespace with one
 * veth (`eth0`, an address in 10.x) plugged into a bridge that lives in a namespace of its own, so
 * every address exists only inside the namespaces. Needs root (CI runs as root): where namespaces
 * cannot be made, CI=true fails loudly; elsewhere the tests skip.
 *
 * The namespaces share this machine's /dev/shm (a network namespace is not a mount namespace), so
 * what a job leaves there is found by owner: ring directories are `millrace-<pid>-<hex>`
 * (@millrace/bridge-shm), and the hosts remember every pid they saw run in their namespaces.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** True when this process can create a network namespace; under CI=true it must. */
export function namespacesAvailable(): boolean {
  const probe = `mh-probe-${randomBytes(3).toString('hex')}`;
  let works = false;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    works = true;
  } catch {}
  if (!works && process.env.CI === 'true') {
    throw new Error(
      'multi-host tests need network namespaces (`ip netns add`, as root) and could not create one; CI runs as root, so this is a broken environment, not a skip',
    );
  }
  return works;
}

export function pidsIn(namespace: string): number[] {
  try {
    return ip('netns', 'pids', namespace).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const sharedMemory = '/dev/shm';
const ringDirectory = /^millrace-(\d+)-[0-9a-f]+$/;

function sharedMemoryEntries(): string[] {
  return existsSync(sharedMemory) ? readdirSync(sharedMemory) : [];
}

/** The processes in these namespaces (pid → namespace), from one scan of /proc (no `ip` process per look). */
function processesIn(namespaces: readonly string[]): Map<number, string> {
  const byInode = new Map<number, string>();
  for (const namespace of namespaces) {
    try {
      byInode.set(statSync(`/run/netns/${namespace}`).ino, namespace);
    } catch {
      // Removed already.
    }
  }
  const found = new Map<number, string>();
  if (byInode.size === 0) return found;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const link = readlinkSync(`/proc/${entry}/ns/net`); // net:[4026532281]
      const namespace = byInode.get(Number(link.slice(5, -1)));
      if (namespace !== undefined) found.set(Number(entry), namespace);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** What a job left behind in the namespaces: processes still there, ring directories in /dev/shm. */
export interface NamespaceLeftovers {
  processes: number[];
  sharedMemory: string[];
}

export interface StartedProcess {
  /** The process's pid (the `millrace` Node process, or `under`'s: `ip netns exec` replaces itself with it). */
  pid: number;
  /** Resolves with the exit code; a process still running after `boundMs` is killed (code -9). */
  exited: Promise<number>;
  firstLine(): Promise<string>;
  stdout(): string;
  stderr(): string;
}

export interface NamespaceHosts<Name extends string> {
  /** Namespace name per host. */
  readonly namespaces: Record<Name, string>;
  readonly addresses: Record<Name, string>;
  /**
   * Runs `node <millraceBin> ...args` inside a host's namespace; with `under`, as the arguments of
   * that command (`['/usr/bin/time', '-o', FILE, '-f', '%U %S']`: its CPU time, children included).
   */
  millrace(
    host: Name,
    args: string[],
    options?: { boundMs?: number; env?: NodeJS.ProcessEnv; cwd?: string; under?: string[] },
  ): StartedProcess;
  /** Takes a host's link down (`ip link set eth0 down` in its namespace) or brings it back. */
  setLink(host: Name, up: boolean): void;
  /**
   * The processes still running in the namespaces (of `hosts`, default all), and the /dev/shm
   * entries that appeared since the hosts were made and belong to a process seen in them (sampled
   * every 100 ms while a `millrace()` process runs). Waits up to `settleMs` (default 5 000) for
   * both to be empty before it answers: a process that was told to stop is given time to exit.
   */
  leftovers(options?: { hosts?: readonly Name[]; settleMs?: number }): Promise<NamespaceLeftovers>;
  /** Kills what still runs in the namespaces, removes their ring directories and the namespaces. */
  remove(): void;
}

/** Creates one namespace per host, `10.<subnet>.0.<n>/24` each, behind one bridge. */
export function createNamespaceHosts<Name extends string>(
  names: readonly Name[],
  subnet: number,
  /** The built `millrace` command (packages/cli/dist/bin.js) that `millrace()` runs. */
  millraceBin: string,
): NamespaceHosts<Name> {
  const suffix = randomBytes(3).toString('hex');
  const bridge = `mh-br-${suffix}`;
  const namespaces = Object.fromEntries(names.map((name, i) => [name, `mh-${i}-${suffix}`])) as Record<
    Name,
    string
  >;
  const addresses = Object.fromEntries(names.map((name, i) => [name, `10.${subnet}.0.${i + 1}`])) as Record<
    Name,
    string
  >;
  const children: ChildProcess[] = [];
  const hostNamespaces = Object.values<string>(namespaces);
  const sharedMemoryBefore = new Set(sharedMemoryEntries());
  /** Every process seen in a host's namespace: pid → namespace. */
  const seen = new Map<number, string>();
  const look = () => {
    for (const [pid, namespace] of processesIn(hostNamespaces)) seen.set(pid, namespace);
  };
  // A ring directory outlives its owner only when the owner was killed; the owner may be a
  // runner that lived briefly, so the pids are sampled while anything runs.
  let sampler: NodeJS.Timeout | undefined;
  const sample = () => {
    look();
    if (children.every((child) => child.exitCode !== null || child.signalCode !== null)) {
      clearInterval(sampler);
      sampler = undefined;
    }
  };
  const leftSharedMemory = (among: readonly string[] = hostNamespaces) =>
    sharedMemoryEntries().filter((name) => {
      const owner = ringDirectory.exec(name)?.[1];
      const namespace = owner === undefined ? undefined : seen.get(Number(owner));
      return !sharedMemoryBefore.has(name) && namespace !== undefined && among.includes(namespace);
    });
  const leftovers = async (
    options: { hosts?: readonly Name[]; settleMs?: number } = {},
  ): Promise<NamespaceLeftovers> => {
    const among = options.hosts?.map((host) => namespaces[host]) ?? hostNamespaces;
    const deadline = Date.now() + (options.settleMs ?? 5_000);
    for (;;) {
      look();
      const found = { processes: [...processesIn(among).keys()], sharedMemory: leftSharedMemory(among) };
      if ((found.processes.length === 0 && found.sharedMemory.length === 0) || Date.now() >= deadline)
        return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const remove = () => {
    clearInterval(sampler);
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const namespace of [...hostNamespaces, bridge]) {
      for (const pid of pidsIn(namespace)) {
        if (namespace !== bridge) seen.set(pid, namespace);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      try {
        ip('netns', 'del', namespace);
      } catch {}
    }
    // Their owners are dead now: what they left is the tests' to remove, so the next test starts clean.
    for (const name of leftSharedMemory()) rmSync(join(sharedMemory, name), { recursive: true, force: true });
  };
  try {
    ip('netns', 'add', bridge);
    ip('-n', bridge, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', bridge, 'link', 'set', 'br0', 'up');
    names.forEach((name, i) => {
      const namespace = namespaces[name];
      ip('netns', 'add', namespace);
      ip('-n', namespace, 'link', 'set', 'lo', 'up');
      ip(
        'link',
        'add',
        'eth0',
        'netns',
        namespace,
        'type',
        'veth',
        'peer',
        'name',
        `to-${i}`,
        'netns',
        bridge,
      );
      ip('-n', bridge, 'link', 'set', `to-${i}`, 'master', 'br0');
      ip('-n', bridge, 'link', 'set', `to-${i}`, 'up');
      ip('-n', namespace, 'addr', 'add', `${addresses[name]}/24`, 'dev', 'eth0');
      ip('-n', namespace, 'link', 'set', 'eth0', 'up');
    });
  } catch (error) {
    remove();
    throw error;
  }

  const millrace = (
    host: Name,
    args: string[],
    options: { boundMs?: number; env?: NodeJS.ProcessEnv; cwd?: string; under?: string[] } = {},
  ) => {
    const command = [...(options.under ?? []), process.execPath, millraceBin, ...args];
    const child = spawn('ip', ['netns', 'exec', namespaces[host], ...command], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    children.push(child);
    if (child.pid !== undefined) seen.set(child.pid, namespaces[host]);
    sampler ??= setInterval(sample, 100).unref();
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.boundMs ?? 120_000);
    const exited = new Promise<number>((resolve) =>
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve(code ?? (signal === 'SIGKILL' ? -9 : -1));
      }),
    );
    const firstLine = () =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const newline = stdout.indexOf('\n');
          if (newline >= 0) resolve(stdout.slice(0, newline));
        };
        child.stdout!.on('data', check);
        child.on('close', () => reject(new Error(`exited before printing a line: ${stderr}`)));
        check();
      });
    return { pid: child.pid ?? -1, exited, firstLine, stdout: () => stdout, stderr: () => stderr };
  };

  return {
    namespaces,
    addresses,
    millrace,
    setLink: (host, up) => ip('-n', namespaces[host], 'link', 'set', 'eth0', up ? 'up' : 'down'),
    leftovers,
    remove,
  };
}
