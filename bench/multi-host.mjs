#!/usr/bin/env node
// Several hosts on real network namespaces (needs root: `ip netns`), with the built dist/ of
// @millrace/runtime and @millrace/cli:
//   1. formation16_tls_p95_ms: a `millrace am` over TLS in one namespace; 16 node agents, 8 in
//      each of two other namespaces (one process per namespace), start at an agreed instant →
//      the last agent holds the cluster spec. Each agent pins the AM's certificate (a bare TLS
//      handshake) before it registers. p50/p95 over repeats.
//   2. silent_detection_cross_host_ms: a worker host's link is cut (`ip link set eth0 down`) →
//      the AM declares that node dead (default heartbeat: 500 ms × 3).
// Not measured yet: tf_training_two_hosts_vs_one (the same TF.js job spread over two namespaces
// vs one), which needs a TF.js parameter-server job module run with `millrace run --hosts`.
// Writes bench/results/multi-host.json.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createNamespaceHosts, namespacesAvailable } from '@millrace/runtime/testing';

const here = dirname(fileURLToPath(import.meta.url));
const cliBin = join(here, '..', 'packages', 'cli', 'dist', 'bin.js');
const agentsScript = join(here, 'multi-host', 'agents.mjs');
// The bound for declaring a cut-off host dead; formation over TLS has no target of its own.
const targets = { silent_detection_cross_host_ms: 2000 };
const wall = () => performance.timeOrigin + performance.now();
const round = (value) => Math.round(value * 10) / 10;
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the wall time at which `pattern` first shows in `read()` (polled every 5 ms). */
async function seen(read, pattern, timeoutMs) {
  const deadline = wall() + timeoutMs;
  while (!pattern.test(read())) {
    if (wall() > deadline) throw new Error(`not seen within ${timeoutMs} ms: ${pattern}\n${read()}`);
    await sleep(5);
  }
  return wall();
}

if (!namespacesAvailable()) {
  console.error('bench multi-host: needs network namespaces (`ip netns add`, as root)');
  process.exit(1);
}
const hosts = createNamespaceHosts(['am', 'b', 'c'], 82, cliBin);
const directory = mkdtempSync(join(tmpdir(), 'millrace-bench-multi-host-'));
const loadBefore = loadavg()[0];
try {
  // 1. formation over TLS across namespaces
  const agentHosts = ['b', 'c'].map((host) => {
    const child = spawn('ip', ['netns', 'exec', hosts.namespaces[host], process.execPath, agentsScript], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    return { child, next: async () => JSON.parse((await lines.next()).value) };
  });
  const formOnce = async () => {
    const am = hosts.millrace('am', ['am', '--roles', 'worker=16', '--listen', `${hosts.addresses.am}:0`]);
    const { join: url } = JSON.parse(await am.firstLine());
    const startAt = wall() + 300;
    agentHosts[0].child.stdin.write(`${JSON.stringify({ join: url, first: 0, count: 8, startAt })}\n`);
    agentHosts[1].child.stdin.write(`${JSON.stringify({ join: url, first: 8, count: 8, startAt })}\n`);
    const done = await Promise.all(agentHosts.map((host) => host.next()));
    if ((await am.exited) !== 0) throw new Error(`the AM failed:\n${am.stderr()}`);
    return Math.max(...done.map((d) => d.doneAt)) - startAt;
  };
  const formation = [];
  for (let i = 0; i < 3; i++) await formOnce();
  for (let i = 0; i < 20; i++) formation.push(await formOnce());
  for (const host of agentHosts) host.child.stdin.end();

  // 2. a worker host's link cut → declared dead
  const silentOnce = async () => {
    const am = hosts.millrace('am', [
      'am',
      '--roles',
      'worker=2',
      '--listen',
      `${hosts.addresses.am}:0`,
      '--max-restarts',
      '0',
    ]);
    const { join: url } = JSON.parse(await am.firstLine());
    const joinFile = join(directory, 'join');
    writeFileSync(joinFile, `${url}\n`, { mode: 0o600 });
    const nodes = ['b', 'c'].map((host, index) =>
      hosts.millrace(host, [
        'node',
        '--join-file',
        joinFile,
        '--role',
        'worker',
        '--index',
        String(index),
        '--',
        process.execPath,
        '-e',
        'setInterval(() => {}, 1000)',
      ]),
    );
    await seen(am.stderr, /worker\[1\] started/, 60_000);
    const cutAt = wall();
    hosts.setLink('c', false);
    const declaredAt = await seen(am.stderr, /node failed: worker\[1\].*heartbeat-missed/, 30_000);
    await am.exited;
    hosts.setLink('c', true);
    await Promise.all(nodes.map((node) => node.exited));
    return declaredAt - cutAt;
  };
  const silent = [];
  for (let i = 0; i < 3; i++) silent.push(await silentOnce());

  const result = {
    benchmark: 'multi-host',
    formation16_tls_p50_ms: round(percentile(formation, 50)),
    formation16_tls_p95_ms: round(percentile(formation, 95)),
    formation_repeats: formation.length,
    silent_detection_cross_host_ms: round(percentile(silent, 50)),
    silent_detection_cross_host_max_ms: round(Math.max(...silent)),
    silent_detection_repeats: silent.length,
    heartbeat: { intervalMs: 500, missedLimit: 3 },
    not_measured: {
      tf_training_two_hosts_vs_one:
        'no TF.js parameter-server job run with millrace run --hosts in this benchmark yet',
    },
    setup: 'an AM namespace and two worker namespaces behind a bridge (veth), all on this machine',
    targets,
    cpus: cpus().length,
    load_average_1m: Math.round(((loadBefore + loadavg()[0]) / 2) * 100) / 100,
    node: process.version,
    measured_at: new Date().toISOString(),
  };
  console.log('several hosts on network namespaces (TLS, real processes)');
  console.log(
    `  16-node formation over TLS  p50 ${result.formation16_tls_p50_ms} ms, p95 ${result.formation16_tls_p95_ms} ms`,
  );
  console.log(
    `  link cut → declared dead    p50 ${result.silent_detection_cross_host_ms} ms, max ${result.silent_detection_cross_host_max_ms} ms (target ≤ ${targets.silent_detection_cross_host_ms} ms)`,
  );
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'multi-host.json'), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  hosts.remove();
  rmSync(directory, { recursive: true, force: true });
}
