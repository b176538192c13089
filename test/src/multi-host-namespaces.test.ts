/**
 * Several hosts, for real: three network namespaces (an AM host and two worker hosts) joined by
 * veth pairs to a bridge that lives in a fourth namespace, so every address exists only inside
 * the namespaces. The AM serves TLS on 10.x; the workers join with the join URL alone, advertise
 * the address of their interface that routes to the AM, and see each other's address in the spec.
 * Needs root (CI runs as root); where namespaces cannot be made, CI=true fails, elsewhere skips.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'dist', 'bin.js');
const suffix = randomBytes(3).toString('hex');
const bridge = `mh-br-${suffix}`;
const hosts = { am: `mh-am-${suffix}`, one: `mh-w1-${suffix}`, two: `mh-w2-${suffix}` } as const;
const address = { am: '10.77.0.1', one: '10.77.0.2', two: '10.77.0.3' } as const;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function namespacesWork(): boolean {
  const probe = `mh-probe-${suffix}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return true;
  } catch {
    return false;
  }
}

const available = namespacesWork();
if (!available && process.env.CI === 'true') {
  throw new Error(
    'multi-host tests need network namespaces (`ip netns add`, as root) and could not create one; CI runs as root, so this is a broken environment, not a skip',
  );
}

function pidsIn(namespace: string): number[] {
  try {
    return ip('netns', 'pids', namespace).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function removeNamespaces(): void {
  for (const namespace of [...Object.values(hosts), bridge]) {
    for (const pid of pidsIn(namespace)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    try {
      ip('netns', 'del', namespace);
    } catch {}
  }
}

const children: ChildProcess[] = [];
let directory = '';

function startIn(namespace: string, args: string[]) {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
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
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
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
}

describe.skipIf(!available)('one cluster across three network namespaces', () => {
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'millrace-multi-host-'));
    ip('netns', 'add', bridge);
    ip('-n', bridge, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', bridge, 'link', 'set', 'br0', 'up');
    for (const [name, namespace] of Object.entries(hosts)) {
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
        `to-${name}`,
        'netns',
        bridge,
      );
      ip('-n', bridge, 'link', 'set', `to-${name}`, 'master', 'br0');
      ip('-n', bridge, 'link', 'set', `to-${name}`, 'up');
      ip('-n', namespace, 'addr', 'add', `${address[name as keyof typeof address]}/24`, 'dev', 'eth0');
      ip('-n', namespace, 'link', 'set', 'eth0', 'up');
    }
  });

  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    removeNamespaces();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('forms over TLS with the join URL alone; a wrong fingerprint and a plaintext client are refused; nothing is left', async () => {
    const am = startIn(hosts.am, ['am', '--roles', 'worker=2', '--listen', `${address.am}:0`]);
    const printed = JSON.parse(await am.firstLine()) as { address: string; token: string; join: string };
    expect(printed.address).toMatch(new RegExp(`^${address.am.replaceAll('.', '\\.')}:\\d+$`));
    expect(printed.join).toMatch(/^millrace:\/\/10\.77\.0\.1:\d+\?token=[0-9a-f]+&ca=sha256:[0-9a-f]{64}$/);

    // From worker host one: a join URL pinning another certificate is refused by name.
    const wrong = printed.join.replace(/sha256:[0-9a-f]+/, `sha256:${'0'.repeat(64)}`);
    const refused = startIn(hosts.one, ['status', '--join', wrong]);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr()).toMatch(/presented a certificate with fingerprint .* but the join URL pins/);
    // From worker host two: plaintext to the TLS port gets no answer.
    const plaintext = startIn(hosts.two, [
      'status',
      '--am',
      printed.address,
      '--token',
      printed.token,
      '--insecure',
    ]);
    expect(await plaintext.exited).toBe(1);

    writeFileSync(join(directory, 'join'), `${printed.join}\n`, { mode: 0o600 });
    // Each runner succeeds only when the spec names both worker hosts by their own addresses.
    const check = `const s = process.env.MILLRACE_CLUSTER_SPEC; process.exit(s.includes('"${address.one}"') && s.includes('"${address.two}"') ? 0 : 7)`;
    const workers = [hosts.one, hosts.two].map((namespace, index) =>
      startIn(namespace, [
        'node',
        '--join-file',
        join(directory, 'join'),
        '--role',
        'worker',
        '--index',
        String(index),
        '--',
        process.execPath,
        '-e',
        check,
      ]),
    );
    const codes = await Promise.all(workers.map((worker) => worker.exited));
    expect(codes, workers.map((worker) => worker.stderr()).join('\n')).toEqual([0, 0]);
    expect(await am.exited).toBe(0);
    expect(am.stderr()).toMatch(/job succeeded/);
    for (const namespace of Object.values(hosts)) expect(pidsIn(namespace)).toEqual([]);
  }, 180_000);
});
