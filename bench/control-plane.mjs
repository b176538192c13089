#!/usr/bin/env node
// The control plane's three latencies, measured in one run on loopback with real gRPC and real
// processes (loads the built dist/ of @millrace/runtime and @millrace/cli):
//   1. formation: 16 node agents start (reserve ports, register) → every agent holds the spec;
//      p50/p95 over repeats.
//   2. exit detection: kill -9 of a runner process → the AM's node-failed observation.
//   3. silent detection: SIGSTOP of a node agent process → the AM declares it dead
//      (default heartbeat: 500 ms × 3).
//   4. control-plane delay: the flagship as users run it (`millrace run examples/flagship`, each
//      run a fresh process), with a probe measuring the event-loop delay of the thread hosting the
//      AM and of the job's (pipeline) thread while the AM serves (control-plane/thread-delay-probe.mjs).
//   5. stop request: `StopJob` sent to the flagship's AM 3 s into training (through the join URL
//      `--shared-dir` publishes) → the `millrace run` process has exited (runners stopped, job over).
// Writes bench/results/control-plane.json.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  ApplicationManager,
  ApplicationManagerConnection,
  createGenericEngine,
  launchLocalCluster,
  NodeAgent,
  parseJoinUrl,
  processRunner,
  silentLogger,
} from '@millrace/runtime';

const here = dirname(fileURLToPath(import.meta.url));
const cliBin = join(here, '..', 'packages', 'cli', 'dist', 'bin.js');
const engine = createGenericEngine();
const targets = {
  formation16_p95_ms: 100,
  exit_detection_ms: 100,
  silent_detection_ms: 2000,
  control_plane_max_delay_ms: 100,
};
const repositoryRoot = join(here, '..');
const delayProbe = join(here, 'control-plane', 'thread-delay-probe.mjs');

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const round = (value) => Math.round(value * 10) / 10;
const now = () => performance.now();

function waitForObservation(am, predicate, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not observed within ${timeoutMs} ms`)), timeoutMs);
    const unsubscribe = am.onObservation((observation) => {
      if (!predicate(observation)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve({ observation, at: now() });
    });
  });
}

/** One formation of `nodes` agents; returns ms from the agents' start to the last spec received. */
async function formOnce(nodes) {
  const am = await ApplicationManager.start({
    config: { engine: 'generic', roles: { worker: { instances: nodes } } },
    engine,
  });
  const immediate = {
    description: 'returns at once',
    start: () => ({ result: Promise.resolve({ status: 'succeeded' }), stop: async () => {} }),
  };
  let withSpec = 0;
  let allHaveSpec;
  const everyone = new Promise((resolve) => {
    allHaveSpec = resolve;
  });
  const agents = Array.from(
    { length: nodes },
    (_, index) =>
      new NodeAgent({
        address: am.address,
        token: am.token,
        role: 'worker',
        index,
        engine,
        runner: immediate,
        logger: silentLogger,
        onEvent: (event) => {
          if (event.type === 'spec-received' && ++withSpec === nodes) allHaveSpec(now());
        },
      }),
  );
  const started = now();
  const runs = agents.map((agent) => agent.run());
  const finished = await everyone;
  await am.result;
  await Promise.all(runs);
  await am.close();
  return finished - started;
}

async function formation(nodes, repeats, warmups) {
  for (let i = 0; i < warmups; i++) await formOnce(nodes);
  const samples = [];
  for (let i = 0; i < repeats; i++) samples.push(await formOnce(nodes));
  return samples;
}

/** kill -9 of a runner process → the AM's node-failed observation. */
async function exitDetectionOnce() {
  const script =
    "console.log('millrace:metrics ' + JSON.stringify({ pid: process.pid })); setInterval(() => {}, 1000)";
  const cluster = launchLocalCluster({
    engine,
    config: { engine: 'generic', roles: { worker: { instances: 2 } }, maxRestarts: 0 },
    runnerFor: () =>
      processRunner({
        command: process.execPath,
        args: ['-e', script],
        output: 'ignore',
        gracePeriodMs: 1000,
      }),
  });
  const am = await cluster.applicationManager;
  const reported = await cluster.waitFor((o) => o.type === 'node-metrics' && o.index === 1, 20_000);
  const failed = waitForObservation(am, (o) => o.type === 'node-failed', 10_000);
  const killedAt = now();
  process.kill(reported.metrics.pid, 'SIGKILL');
  const { at, observation } = await failed;
  await cluster.result;
  if (observation.failure.signal !== 'SIGKILL')
    throw new Error(`unexpected failure: ${JSON.stringify(observation)}`);
  return at - killedAt;
}

/** SIGSTOP of a node agent process (`millrace node`) → declared dead by missed heartbeats. */
async function silentDetectionOnce() {
  const am = await ApplicationManager.start({
    config: { engine: 'generic', roles: { worker: { instances: 2 } }, maxRestarts: 0 },
    engine,
  });
  const agents = [0, 1].map((index) =>
    spawn(
      process.execPath,
      [
        cliBin,
        'node',
        '--am',
        am.address,
        '--role',
        'worker',
        '--index',
        String(index),
        '--grace',
        '500',
        '--',
        process.execPath,
        '-e',
        'setInterval(() => {}, 1000)',
      ],
      { stdio: 'ignore', env: { ...process.env, MILLRACE_TOKEN: am.token } },
    ),
  );
  try {
    await waitForObservation(am, (o) => o.type === 'node-started' && o.index === 1, 20_000);
    const dead = waitForObservation(am, (o) => o.type === 'node-failed', 10_000);
    const stoppedAt = now();
    agents[1].kill('SIGSTOP');
    const { at, observation } = await dead;
    if (observation.failure.reason !== 'heartbeat-missed')
      throw new Error(`unexpected failure: ${JSON.stringify(observation)}`);
    return at - stoppedAt;
  } finally {
    const closed = agents.map((agent) => new Promise((resolve) => agent.on('close', resolve)));
    agents[1].kill('SIGCONT');
    await am.close();
    await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    for (const agent of agents) if (agent.exitCode === null) agent.kill('SIGKILL');
  }
}

/** One flagship run through the CLI; the probe's readings of both threads. */
async function flagshipThreadDelays() {
  const directory = mkdtempSync(join(tmpdir(), 'millrace-bench-delay-'));
  try {
    const child = spawn(process.execPath, ['--import', delayProbe, cliBin, 'run', 'examples/flagship'], {
      cwd: repositoryRoot,
      env: { ...process.env, MILLRACE_BENCH_DELAY_DIR: directory },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`the flagship exited with ${code}:\n${stderr.slice(-2000)}`);
    const read = (thread) => JSON.parse(readFileSync(join(directory, `${thread}-thread.json`), 'utf8'));
    return { am: read('application-manager'), job: read('job') };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** One flagship run through the CLI, stopped 3 s into training: ms from StopJob to the exit. */
async function stopDuringFlagship() {
  const directory = mkdtempSync(join(tmpdir(), 'millrace-bench-stop-'));
  try {
    const child = spawn(process.execPath, [cliBin, 'run', '--shared-dir', directory, 'examples/flagship'], {
      cwd: repositoryRoot,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal, at: now() })),
    );
    const joinFile = join(directory, 'join-url');
    const givenUpAt = now() + 60_000;
    while (!existsSync(joinFile)) {
      if (now() > givenUpAt) throw new Error('the flagship published no join URL within 60 s');
      await sleep(50);
    }
    await sleep(3_000);
    const connection = new ApplicationManagerConnection(parseJoinUrl(readFileSync(joinFile, 'utf8').trim()));
    const stoppedAt = now();
    await connection.stopJob('benchmark: stop request during training');
    connection.close();
    const ended = await Promise.race([exited, sleep(60_000).then(() => undefined)]);
    if (ended === undefined) {
      child.kill('SIGKILL');
      throw new Error('the flagship did not exit within 60 s of the stop request');
    }
    const { code, signal, at } = ended;
    if (code === null) throw new Error(`the flagship ended by ${signal} instead of exiting after the stop`);
    return at - stoppedAt;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

async function repeat(times, measure) {
  const samples = [];
  for (let i = 0; i < times; i++) samples.push(await measure());
  return samples;
}

const loadBefore = loadavg()[0];
const formationSamples = await formation(16, 30, 3);
const exitSamples = await repeat(10, exitDetectionOnce);
const silentSamples = await repeat(3, silentDetectionOnce);
const delaySamples = await repeat(3, flagshipThreadDelays);
const stopSamples = await repeat(3, stopDuringFlagship);
const median = (values) => percentile(values, 50);

const result = {
  benchmark: 'control-plane',
  formation16_p50_ms: round(percentile(formationSamples, 50)),
  formation16_p95_ms: round(percentile(formationSamples, 95)),
  formation_repeats: formationSamples.length,
  exit_detection_ms: round(percentile(exitSamples, 50)),
  exit_detection_p95_ms: round(percentile(exitSamples, 95)),
  exit_detection_repeats: exitSamples.length,
  silent_detection_ms: round(percentile(silentSamples, 50)),
  silent_detection_max_ms: round(Math.max(...silentSamples)),
  silent_detection_repeats: silentSamples.length,
  // Median over runs of each run's worst delay of the AM's thread while it served the flagship.
  control_plane_max_delay_ms: round(median(delaySamples.map((sample) => sample.am.max_ms))),
  control_plane_worst_delay_ms: round(Math.max(...delaySamples.map((sample) => sample.am.max_ms))),
  control_plane_p99_delay_ms: round(median(delaySamples.map((sample) => sample.am.p99_ms))),
  // The job's own thread over the same span: pipeline work yields every 10 ms (dataflow's
  // time-slice.ts), so this is what a runner's agent and a stop request wait at worst.
  job_thread_max_delay_ms: round(median(delaySamples.map((sample) => sample.job.max_ms))),
  job_thread_p99_delay_ms: round(median(delaySamples.map((sample) => sample.job.p99_ms))),
  flagship_runs: delaySamples.length,
  stop_request_to_exit_ms: round(median(stopSamples)),
  stop_request_to_exit_max_ms: round(Math.max(...stopSamples)),
  stop_request_repeats: stopSamples.length,
  heartbeat: { intervalMs: 500, missedLimit: 3 },
  targets,
  cpus: cpus().length,
  // Other work on the machine slows every number here; formation is the most sensitive.
  load_average_1m: Math.round(((loadBefore + loadavg()[0]) / 2) * 100) / 100,
  node: process.version,
  measured_at: new Date().toISOString(),
};

console.log('control plane on loopback (real gRPC, real processes)');
console.log(
  `  16-node formation   p50 ${result.formation16_p50_ms} ms, p95 ${result.formation16_p95_ms} ms   (target p95 ≤ ${targets.formation16_p95_ms} ms, ratio ${(result.formation16_p95_ms / targets.formation16_p95_ms).toFixed(2)})`,
);
console.log(
  `  exit detection      p50 ${result.exit_detection_ms} ms, p95 ${result.exit_detection_p95_ms} ms   (target ≤ ${targets.exit_detection_ms} ms, ratio ${(result.exit_detection_ms / targets.exit_detection_ms).toFixed(2)})`,
);
console.log(
  `  AM thread delay     max ${result.control_plane_max_delay_ms} ms (median of ${result.flagship_runs} flagship runs; worst ${result.control_plane_worst_delay_ms} ms), p99 ${result.control_plane_p99_delay_ms} ms (target max ≤ ${targets.control_plane_max_delay_ms} ms); job thread max ${result.job_thread_max_delay_ms} ms, p99 ${result.job_thread_p99_delay_ms} ms`,
);
console.log(
  `  stop request → exit p50 ${result.stop_request_to_exit_ms} ms, max ${result.stop_request_to_exit_max_ms} ms (flagship, 3 s into training; includes stopping 3 TF.js processes)`,
);
console.log(
  `  silent detection    p50 ${result.silent_detection_ms} ms, max ${result.silent_detection_max_ms} ms (target ≤ ${targets.silent_detection_ms} ms, ratio ${(result.silent_detection_ms / targets.silent_detection_ms).toFixed(2)})`,
);

mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'control-plane.json'), `${JSON.stringify(result, null, 2)}\n`);
