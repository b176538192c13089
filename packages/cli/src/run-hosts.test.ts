import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSelfSignedIdentity, formatJoinUrl } from '@millrace/runtime';
import { processesWithMarker } from '@millrace/runtime/testing';
import { afterAll, describe, expect, it } from 'vitest';

// One job on several hosts, as users and schedulers run it: the same `millrace run --hosts 2
// --host-index I --shared-dir D JOB` started twice on this machine (two processes, one cluster:
// host 0 serves the application manager over TLS and writes D/join-url, host 1 finds it there).
// The job is test-fixtures/hosts-job.mjs: generated records {id} to a stream-mode role with one
// worker per host, each host writing what its runner returned into OUT/host-I.jsonl.
const bin = join(import.meta.dirname, '..', 'dist', 'bin.js');
const job = join(import.meta.dirname, 'test-fixtures', 'hosts-job.mjs');
const marker = `millrace-hosts-test-${randomUUID()}`;
const work = mkdtempSync(join(tmpdir(), 'millrace-run-hosts-'));
const boundMs = 150_000;

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function runHost(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // Every wait has a bound: a host that hangs is killed and reported as such.
    const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr: signal ? `${stderr}\n(killed: ${signal})` : stderr });
    });
  });
}

function hosts(mode: 'succeed' | 'fail' | 'sink-fail', count: number) {
  const shared = mkdtempSync(join(work, 'shared-'));
  const out = mkdtempSync(join(work, 'out-'));
  const host = (index: number) =>
    runHost([
      '--hosts',
      '2',
      '--host-index',
      String(index),
      '--shared-dir',
      shared,
      job,
      '--',
      mode,
      out,
      String(count),
      marker,
    ]);
  return { shared, out, results: Promise.all([host(0), host(1)]) };
}

interface Returned {
  id: number;
  node: string;
  host: number;
}

function returned(out: string, host: number): Returned[] {
  return readFileSync(join(out, `host-${host}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Returned);
}

describe('millrace run on two hosts', () => {
  it('forms one cluster; every record reaches exactly one runner, on its own host; both exit 0', async () => {
    const count = 500;
    const { shared, out, results } = hosts('succeed', count);
    const [zero, one] = await results;
    expect(zero.code, `${zero.stderr}\n---\n${one.stderr}`).toBe(0);
    expect(one.code, `${zero.stderr}\n---\n${one.stderr}`).toBe(0);
    const fromZero = returned(out, 0);
    const fromOne = returned(out, 1);
    // Exactly once across hosts: every id, none twice.
    const ids = [...fromZero, ...fromOne].map((record) => record.id).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: count }, (_, id) => id));
    // Records stay on their host: host h read the ids ≡ h (mod 2) and fed them to its own worker.
    expect(fromZero.every((r) => r.id % 2 === 0 && r.node === 'worker[0]' && r.host === 0)).toBe(true);
    expect(fromOne.every((r) => r.id % 2 === 1 && r.node === 'worker[1]' && r.host === 1)).toBe(true);
    // Both hosts saw the cluster succeed; host 1 learned it from host 0's application manager.
    expect(zero.stdout).toContain('host 0 of 2');
    expect(one.stdout).toContain('host 1 of 2');
    expect(one.stdout).toMatch(/job succeeded/);
    // The join URL (it holds the token) is not left behind, and neither is any runner.
    expect(existsSync(join(shared, 'join-url'))).toBe(false);
    expect(processesWithMarker(marker)).toEqual([]);
  }, 200_000);

  it("host 1's runner fails: both hosts exit 1 with the JobFailedError naming worker[1]", async () => {
    const { results } = hosts('fail', 400);
    const [zero, one] = await results;
    for (const host of [zero, one]) {
      expect(host.code, host.stderr).toBe(1);
      expect(host.stderr).toMatch(/Job 'hosts' failed: worker\[1\] failed/);
      expect(host.stderr).toMatch(/worker\[1\] \(generation 0\) exit code 5/);
      expect(host.stderr).toContain('worker[1] cannot go on');
    }
    expect(processesWithMarker(marker)).toEqual([]);
  }, 200_000);

  it("host 1's own pipeline fails: it stops the cluster, naming itself, and both hosts exit 1", async () => {
    const { results } = hosts('sink-fail', 400);
    const [zero, one] = await results;
    expect(one.code, one.stderr).toBe(1);
    expect(one.stderr).toContain('sink on host 1 broke');
    expect(zero.code, zero.stderr).toBe(1);
    expect(zero.stderr).toMatch(/the cluster was stopped: host 1 ended/);
    expect(processesWithMarker(marker)).toEqual([]);
  }, 200_000);

  it('with a join URL made in advance (as for Kubernetes), host 0 given its certificate serves exactly that AM', async () => {
    // What millrace submit --scheduler kubernetes hands every pod: one join URL naming host 0's
    // port, token and certificate, and to host 0 the certificate and key.
    const identity = await createSelfSignedIdentity();
    const secrets = mkdtempSync(join(work, 'secret-'));
    writeFileSync(join(secrets, 'tls.crt'), identity.certificate);
    writeFileSync(join(secrets, 'tls.key'), identity.privateKey, { mode: 0o600 });
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const url = formatJoinUrl({
      address: `127.0.0.1:${port}`,
      token: randomUUID(),
      fingerprint: identity.fingerprint,
    });
    const out = mkdtempSync(join(work, 'out-'));
    const host = (index: number) =>
      runHost(
        [
          '--hosts',
          '2',
          '--host-index',
          String(index),
          '--am-tls-cert',
          join(secrets, 'tls.crt'),
          '--am-tls-key',
          join(secrets, 'tls.key'),
          job,
          '--',
          'succeed',
          out,
          '100',
          marker,
        ],
        { ...process.env, MILLRACE_JOIN: url },
      );
    const [zero, one] = await Promise.all([host(0), host(1)]);
    expect(zero.code, zero.stderr).toBe(0);
    expect(one.code, one.stderr).toBe(0);
    const ids = [0, 1]
      .flatMap((index) => returned(out, index))
      .map((record) => record.id)
      .sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 100 }, (_, id) => id));
  }, 200_000);

  it('a host whose join URL never appears fails within its bound, naming the file', async () => {
    const shared = mkdtempSync(join(work, 'empty-'));
    const alone = await runHost([
      '--hosts',
      '2',
      '--host-index',
      '1',
      '--shared-dir',
      shared,
      '--join-wait-ms',
      '1500',
      job,
      '--',
      'succeed',
      work,
      '10',
      marker,
    ]);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain(
      `Timed out after 1500 ms waiting for the join URL in ${join(shared, 'join-url')}`,
    );
    expect(alone.stderr).toMatch(/the file never appeared/);
    expect(processesWithMarker(marker)).toEqual([]);
  }, 60_000);

  it('several hosts without a shared directory or a join URL are refused by name', async () => {
    const refused = await runHost(['--hosts', '2', '--host-index', '0', job]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/shared-dir: is needed on 2 hosts/);
  }, 60_000);
});
