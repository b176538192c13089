#!/usr/bin/env node
// Several hosts on real network namespaces (needs root: `ip netns`), with the built dist/ of
// @millrace/runtime and @millrace/cli:
//   1. formation16_tls_p95_ms: a `millrace am` over TLS in one namespace; 16 node agents, 8 in
//      each of two other namespaces (one process per namespace), start at an agreed instant →
//      the last agent holds the cluster spec. Each agent pins the AM's certificate (a bare TLS
//      handshake) before it registers. p50/p95 over repeats.
//   2. silent_detection_cross_host_ms: a worker host's link is cut (`ip link set eth0 down`) →
//      the AM declares that node dead (default heartbeat: 500 ms × 3).
//   3. tf_training_two_hosts_vs_one: the same TF.js parameter-server job
//      (test/src/fixtures/tensorflow-hosts-job.mjs: 2 workers + 1 ps, stream-mode input, async)
//      run by `millrace run` in one namespace, against `millrace run --hosts 2` over two (the ps
//      and worker[0] on one, worker[1] on the other: TLS to the AM, gradients over the veth).
//      Throughput is training samples per second: every sample over the longest worker's
//      seconds from its first batch to its end, as the workers report them. Each run is fresh
//      processes; the sides alternate (a warm-up run of each first, not counted); the result is
//      the median of the pairs' ratios. The namespaces share this machine's cores, so this
//      measures what TLS and the veth cost, not what a second machine would add. Beside it, the
//      same ratio per CPU second of the job's processes (/usr/bin/time of each host's process),
//      which depends less on what else the machine runs.
// Writes bench/results/multi-host.json, with the machine load before each training run.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createNamespaceHosts, namespacesAvailable } from '@millrace/runtime/testing';

const here = dirname(fileURLToPath(import.meta.url));
const cliBin = join(here, '..', 'packages', 'cli', 'dist', 'bin.js');
const agentsScript = join(here, 'multi-host', 'agents.mjs');
const tensorflowJob = join(here, '..', 'test', 'src', 'fixtures', 'tensorflow-hosts-job.mjs');
const tensorflowRows = Number(process.env.BENCH_MULTI_HOST_TF_ROWS ?? 300_000);
const tensorflowPairs = Number(process.env.BENCH_MULTI_HOST_TF_PAIRS ?? 6);
// The targets (../shared/check/bench-targets checks formation's too).
const targets = { silent_detection_cross_host_ms: 2000, tf_training_two_hosts_vs_one: 0.9 };
const wall = () => performance.timeOrigin + performance.now();
const round = (value) => Math.round(value * 10) / 10;
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

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

  // 3. the same TF.js job on two namespaces vs one
  const trainOnce = async (hostCount) => {
    const out = mkdtempSync(join(directory, 'tf-out-'));
    const shared = mkdtempSync(join(directory, 'tf-shared-'));
    const jobArgs = [tensorflowJob, '--', out, String(tensorflowRows)];
    // Each host's CPU seconds (user + system), its runner and training processes included.
    const cpuFile = (index) => join(out, `cpu-${index}`);
    const under = (index) => ['/usr/bin/time', '-o', cpuFile(index), '-f', '%U %S'];
    const load1 = loadavg()[0];
    const startedAt = wall();
    const runs =
      hostCount === 1
        ? [hosts.millrace('b', ['run', ...jobArgs], { boundMs: 300_000, under: under(0) })]
        : ['b', 'c'].map((host, index) =>
            hosts.millrace(
              host,
              ['run', '--hosts', '2', '--host-index', String(index), '--shared-dir', shared, ...jobArgs],
              { boundMs: 300_000, under: under(index) },
            ),
          );
    const codes = await Promise.all(runs.map((run) => run.exited));
    if (codes.some((code) => code !== 0))
      throw new Error(
        `the TF.js job on ${hostCount} host(s) failed:\n${runs.map((run) => run.stderr()).join('\n---\n')}`,
      );
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    const cpuSeconds = runs
      .map((_, index) => readFileSync(cpuFile(index), 'utf8').trim().split('\n').at(-1).split(' '))
      .reduce((sum, [user, system]) => sum + Number(user) + Number(system), 0);
    rmSync(out, { recursive: true, force: true });
    rmSync(shared, { recursive: true, force: true });
    return {
      hosts: hostCount,
      samples_per_second: Math.round(result.samplesPerSecond),
      held_out_auc: Math.round(result.heldOutAuc * 10_000) / 10_000,
      wall_seconds: round((wall() - startedAt) / 1000),
      cpu_seconds: round(cpuSeconds),
      samples_per_cpu_second: Math.round(tensorflowRows / cpuSeconds),
      load1: Math.round(load1 * 100) / 100,
    };
  };
  await trainOnce(1);
  await trainOnce(2);
  const tensorflowRuns = [];
  for (let pair = 0; pair < tensorflowPairs; pair++) {
    const order = pair % 2 === 0 ? [1, 2] : [2, 1];
    const done = {};
    for (const hostCount of order) done[hostCount] = await trainOnce(hostCount);
    tensorflowRuns.push({
      one: done[1],
      two: done[2],
      ratio: done[2].samples_per_second / done[1].samples_per_second,
      per_cpu_second_ratio: done[2].samples_per_cpu_second / done[1].samples_per_cpu_second,
    });
    console.log(
      `  TF.js pair ${pair + 1}: one host ${done[1].samples_per_second} samples/s, ${done[1].cpu_seconds} CPU s (load ${done[1].load1}); ` +
        `two hosts ${done[2].samples_per_second} samples/s, ${done[2].cpu_seconds} CPU s (load ${done[2].load1})`,
    );
  }
  const tensorflowLoads = tensorflowRuns.flatMap((pair) => [pair.one.load1, pair.two.load1]);

  const result = {
    benchmark: 'multi-host',
    formation16_tls_p50_ms: round(percentile(formation, 50)),
    formation16_tls_p95_ms: round(percentile(formation, 95)),
    formation_repeats: formation.length,
    silent_detection_cross_host_ms: round(percentile(silent, 50)),
    silent_detection_cross_host_max_ms: round(Math.max(...silent)),
    silent_detection_repeats: silent.length,
    heartbeat: { intervalMs: 500, missedLimit: 3 },
    tf_training_two_hosts_vs_one: Math.round(median(tensorflowRuns.map((pair) => pair.ratio)) * 1000) / 1000,
    tf_training: {
      // Less sensitive to what else the machine runs: samples over every CPU second of the job's
      // processes, start to end (the two-host side starts one more job process).
      two_hosts_vs_one_per_cpu_second:
        Math.round(median(tensorflowRuns.map((pair) => pair.per_cpu_second_ratio)) * 1000) / 1000,
      rows: tensorflowRows,
      layout:
        'one host: 2 workers + 1 ps in one namespace; two hosts: ps + worker[0] in one, worker[1] in the other',
      one_host_samples_per_second: median(tensorflowRuns.map((pair) => pair.one.samples_per_second)),
      two_hosts_samples_per_second: median(tensorflowRuns.map((pair) => pair.two.samples_per_second)),
      one_host_held_out_auc: median(tensorflowRuns.map((pair) => pair.one.held_out_auc)),
      two_hosts_held_out_auc: median(tensorflowRuns.map((pair) => pair.two.held_out_auc)),
      wall_seconds_one_vs_two: {
        one: round(median(tensorflowRuns.map((pair) => pair.one.wall_seconds))),
        two: round(median(tensorflowRuns.map((pair) => pair.two.wall_seconds))),
      },
      cpu_seconds_one_vs_two: {
        one: round(median(tensorflowRuns.map((pair) => pair.one.cpu_seconds))),
        two: round(median(tensorflowRuns.map((pair) => pair.two.cpu_seconds))),
      },
      load_before_runs: {
        min: Math.min(...tensorflowLoads),
        median: median(tensorflowLoads),
        max: Math.max(...tensorflowLoads),
      },
      pairs: tensorflowRuns,
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
  console.log(
    `  TF.js two hosts vs one      ${result.tf_training_two_hosts_vs_one} (median of ${tensorflowRuns.length} pairs; ` +
      `${result.tf_training.two_hosts_samples_per_second} vs ${result.tf_training.one_host_samples_per_second} samples/s; target ≥ ${targets.tf_training_two_hosts_vs_one}; load ${result.tf_training.load_before_runs.median}); ` +
      `per CPU second ${result.tf_training.two_hosts_vs_one_per_cpu_second}`,
  );
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'multi-host.json'), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  hosts.remove();
  rmSync(directory, { recursive: true, force: true });
}
