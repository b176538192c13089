/**
 * A two-host job (`millrace run --hosts 2`, one network namespace per host; the job is
 * test/src/fixtures/hosts-steady-job.mjs, which streams numbers into one runner per host over
 * shared-memory rings until stopped) interrupted two ways, as docs/multi-host.md describes:
 *
 * - The application manager goes silent: host 0's `millrace run` process (it serves the AM) is
 *   stopped with SIGSTOP. Host 1 gets no answer, fails with a named timeout within its bound,
 *   stops its runner and leaves nothing behind while host 0 is still frozen. Once host 0 runs again
 *   (SIGCONT) it learns that host 1 ended and why, and fails too; then nothing is left anywhere.
 * - Ctrl-C on host 1: host 1 stops its runner and exits 130 (cancelled); it stops the cluster with
 *   the reason `host 1 ended: interrupted (Ctrl-C)`, and host 0 fails with that reason. Ctrl-C on
 *   host 0 is the mirror image: its AM stops the job naming host 0, and host 1 fails with that.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createNamespaceHosts,
  expectNothingLeft,
  type NamespaceHosts,
  namespacesAvailable,
} from './namespaces-support.js';

const available = namespacesAvailable();
const job = join(import.meta.dirname, 'fixtures', 'hosts-steady-job.mjs');
type Host = 'zero' | 'one';
let hosts: NamespaceHosts<Host> | undefined;
let directory = '';
let frozen: number | undefined;

afterEach(() => {
  // A test that failed with host 0 still stopped must not leave it frozen (remove() kills it).
  if (frozen !== undefined) {
    try {
      process.kill(frozen, 'SIGCONT');
    } catch {}
    frozen = undefined;
  }
  hosts?.remove();
  hosts = undefined;
  if (directory) rmSync(directory, { recursive: true, force: true });
  directory = '';
});

/** Both hosts of the job, once both runners run (host 0's log says so). */
async function startJob() {
  hosts = createNamespaceHosts<Host>(['zero', 'one'], 84);
  directory = mkdtempSync(join(tmpdir(), 'millrace-interruptions-'));
  const runs = (['zero', 'one'] as const).map((host, index) =>
    hosts!.millrace(
      host,
      ['run', '--hosts', '2', '--host-index', String(index), '--shared-dir', directory, job, '--', directory],
      { boundMs: 100_000 },
    ),
  );
  const deadline = Date.now() + 60_000;
  while (!/worker\[0\] started/.test(runs[0]!.stdout()) || !/worker\[1\] started/.test(runs[0]!.stdout())) {
    if (Date.now() > deadline) throw new Error(`the runners never started:\n${runs[0]!.stdout()}`);
    await sleep(100);
  }
  await sleep(1_000); // mid-stream: records are flowing through both hosts' rings
  const [zero, one] = runs as [(typeof runs)[0], (typeof runs)[0]];
  return { zero, one };
}

/** Resolves with the exit code and how long after `since` it came. */
async function exitOf(run: { exited: Promise<number> }, since: number) {
  const code = await run.exited;
  return { code, afterMs: Date.now() - since };
}

describe.skipIf(!available)('a two-host job interrupted (network namespaces)', () => {
  it('the AM goes silent (SIGSTOP of host 0): host 1 fails with a named timeout within 35 s and leaves nothing; host 0, resumed, fails naming host 1', async () => {
    const { zero, one } = await startJob();
    const stoppedAt = Date.now();
    process.kill(zero.pid, 'SIGSTOP');
    frozen = zero.pid;
    // The bound: 15 s without an answer (each question waits at most 5 s), then at most 3 s to
    // tell the AM, then its runner's stop; 35 s leaves room for a loaded machine.
    const hostOne = await exitOf(one, stoppedAt);
    expect(hostOne.code, one.stderr()).toBe(1);
    expect(hostOne.afterMs).toBeLessThan(35_000);
    expect(one.stderr()).toMatch(
      /Timed out after 15000 ms waiting for the application manager at 10\.84\.0\.1:\d+: it stopped answering before the job ended/,
    );
    // Host 1 is gone entirely while host 0 is still frozen: its runner and its rings too.
    await expectNothingLeft(hosts!, { hosts: ['one'] });

    const resumedAt = Date.now();
    process.kill(zero.pid, 'SIGCONT');
    frozen = undefined;
    const hostZero = await exitOf(zero, resumedAt);
    expect(hostZero.code, zero.stderr()).toBe(1);
    // It waits (at most 15 s) for host 1 to read the outcome, which host 1 never will.
    expect(hostZero.afterMs).toBeLessThan(30_000);
    // Usually it reads host 1's stop request first (it waited in the socket); if its heartbeat
    // check runs first, the job fails naming host 1's node instead. Either way host 1 is named.
    expect(zero.stderr()).toMatch(
      /the cluster was stopped: host 1 ended: Timed out after 15000 ms waiting for the application manager|Job 'steady' failed: .*worker\[1\]/,
    );
    await expectNothingLeft(hosts!);
  }, 150_000);

  it('Ctrl-C on host 1: host 1 stops its runner and exits 130; host 0 fails naming the interruption', async () => {
    const { zero, one } = await startJob();
    const interruptedAt = Date.now();
    process.kill(one.pid, 'SIGINT');
    const [hostZero, hostOne] = await Promise.all([exitOf(zero, interruptedAt), exitOf(one, interruptedAt)]);
    expect(hostOne.code, one.stdout() + one.stderr()).toBe(130);
    expect(one.stdout()).toContain('cancelling the job (Ctrl-C again to force)');
    expect(one.stdout()).toMatch(/run cancelled/);
    expect(hostZero.code, zero.stderr()).toBe(1);
    expect(zero.stderr()).toContain('the cluster was stopped: host 1 ended: interrupted (Ctrl-C)');
    // Both within the CLI's 15 s cancel bound: host 1 read the stopped outcome, so host 0 did not wait for it.
    expect(Math.max(hostZero.afterMs, hostOne.afterMs)).toBeLessThan(15_000);
    await expectNothingLeft(hosts!);
  }, 120_000);
  it('Ctrl-C on host 0 (the AM): host 0 exits 130 once host 1 read the outcome; host 1 fails naming host 0', async () => {
    const { zero, one } = await startJob();
    const interruptedAt = Date.now();
    process.kill(zero.pid, 'SIGINT');
    const [hostZero, hostOne] = await Promise.all([exitOf(zero, interruptedAt), exitOf(one, interruptedAt)]);
    expect(hostZero.code, zero.stdout() + zero.stderr()).toBe(130);
    expect(hostOne.code, one.stderr()).toBe(1);
    expect(one.stderr()).toContain('the cluster was stopped: host 0 ended: interrupted (Ctrl-C)');
    expect(Math.max(hostZero.afterMs, hostOne.afterMs)).toBeLessThan(15_000);
    await expectNothingLeft(hosts!);
  }, 120_000);
});
