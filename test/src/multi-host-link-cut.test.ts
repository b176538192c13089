/**
 * Cutting a host's link mid-job (`ip link set eth0 down` in its namespace), on three network
 * namespaces: an AM host and two worker hosts. The AM declares the cut-off node dead by missed
 * heartbeats; with the link back the job completes through the engine's failure policy
 * (restart-all); with the link left down it fails naming the node, and every process ends within
 * its bound — nothing hangs. (An earlier attempt hung: the AM's process stayed alive for minutes
 * after the job ended, held by the TCP socket of the vanished peer, which a graceful or even forced
 * gRPC shutdown did not destroy; ApplicationManager.close() now destroys its peers' sockets.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
type Host = 'am' | 'one' | 'two';
let hosts: NamespaceHosts<Host> | undefined;
let directory = '';

afterEach(() => {
  hosts?.remove();
  hosts = undefined;
  if (directory) rmSync(directory, { recursive: true, force: true });
});

/** A cluster of two workers that each run for `runMs`; resolves once both runners started. */
async function startCluster(runMs: number) {
  hosts = createNamespaceHosts<Host>(['am', 'one', 'two'], 79);
  directory = mkdtempSync(join(tmpdir(), 'millrace-link-cut-'));
  const am = hosts.millrace('am', [
    'am',
    '--roles',
    'worker=2',
    '--listen',
    `${hosts.addresses.am}:0`,
    '--heartbeat-ms',
    '250',
    '--max-restarts',
    '1',
    '--registration-timeout-ms',
    '30000',
  ]);
  const printed = JSON.parse(await am.firstLine()) as { join: string };
  writeFileSync(join(directory, 'join'), `${printed.join}\n`, { mode: 0o600 });
  const workers = (['one', 'two'] as const).map((host, index) =>
    hosts!.millrace(host, [
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
      `setTimeout(() => {}, ${runMs})`,
    ]),
  );
  const deadline = Date.now() + 60_000;
  while (!(/worker\[0\] started/.test(am.stderr()) && /worker\[1\] started/.test(am.stderr()))) {
    if (Date.now() > deadline) throw new Error(`the runners never started:\n${am.stderr()}`);
    await sleep(100);
  }
  return { am, workers };
}

describe.skipIf(!available)('a host cut off mid-job (network namespaces)', () => {
  it('is declared dead by missed heartbeats; with the link back the job completes after a restart', async () => {
    const { am, workers } = await startCluster(8_000);
    hosts!.setLink('two', false);
    // Down for longer than the heartbeat limit (3 × 250 ms), then back.
    await sleep(2_000);
    hosts!.setLink('two', true);
    const codes = await Promise.all([am.exited, ...workers.map((worker) => worker.exited)]);
    expect(codes, am.stderr()).toEqual([0, 0, 0]);
    expect(am.stderr()).toMatch(/worker\[1\] \(generation 0\) heartbeat-missed: no heartbeat for \d+ ms/);
    expect(am.stderr()).toContain('generation 1: restart-all');
    expect(am.stderr()).toMatch(/job succeeded/);
    await expectNothingLeft(hosts!);
  }, 150_000);

  it('with the link left down the job fails naming the node, and every process ends within its bound', async () => {
    const { am, workers } = await startCluster(60_000);
    hosts!.setLink('two', false);
    // Each process is killed (exit -9) if it outlives its bound; none may need that.
    const codes = await Promise.all([am.exited, ...workers.map((worker) => worker.exited)]);
    expect(codes[0], am.stderr()).toBe(1);
    expect(am.stderr()).toMatch(/worker\[1\] \(generation 0\) heartbeat-missed/);
    expect(am.stderr()).toMatch(/worker\[1\] \(generation 1\) error: went silent and did not register again/);
    expect(am.stderr()).toMatch(/job failed: worker\[1\] failed in a way a restart cannot fix/);
    // The surviving worker leaves because the job failed; the cut-off one gives up on the AM.
    expect(codes[1], workers[0]!.stderr()).toBe(1);
    expect(workers[0]!.stderr()).toContain('leaving: job failed');
    expect(codes[2], workers[1]!.stderr()).toBe(1);
    expect(workers[1]!.stderr()).toMatch(/Timed out after \d+ ms waiting for the application manager/);
    await expectNothingLeft(hosts!);
  }, 150_000);
});
