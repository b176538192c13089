/**
 * Hosts made of network namespaces, for the multi-host tests and the multi-host benchmark: each host is a namespace with one
 * veth (`eth0`, an address in 10.x) plugged into a bridge that lives in a namespace of its own, so
 * every address exists only inside the namespaces. Needs root (CI runs as root): where namespaces
 * cannot be made, CI=true fails loudly; elsewhere the tests skip.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

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

export interface StartedProcess {
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
  /** Runs `node <millraceBin> ...args` inside a host's namespace. */
  millrace(
    host: Name,
    args: string[],
    options?: { boundMs?: number; env?: NodeJS.ProcessEnv; cwd?: string },
  ): StartedProcess;
  /** Takes a host's link down (`ip link set eth0 down` in its namespace) or brings it back. */
  setLink(host: Name, up: boolean): void;
  /** Kills what still runs in the namespaces and removes them. */
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
  const remove = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const namespace of [...Object.values<string>(namespaces), bridge]) {
      for (const pid of pidsIn(namespace)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      try {
        ip('netns', 'del', namespace);
      } catch {}
    }
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
    options: { boundMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ) => {
    const child = spawn('ip', ['netns', 'exec', namespaces[host], process.execPath, millraceBin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    children.push(child);
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
    return { exited, firstLine, stdout: () => stdout, stderr: () => stderr };
  };

  return {
    namespaces,
    addresses,
    millrace,
    setLink: (host, up) => ip('-n', namespaces[host], 'link', 'set', 'eth0', up ? 'up' : 'down'),
    remove,
  };
}
