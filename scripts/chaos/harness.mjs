/**
 * The chaos harness: runs a real Millrace job (`millrace run`, the built CLI) in a process group of
 * its own, kills -9 or SIGSTOPs one of its processes at a moment drawn from a seed, and checks what
 * a user would check afterwards:
 *
 * - outcome: the job succeeded, or failed with a named Millrace error (`millrace: SomethingError:`
 *   on stderr), within the scenario's stated bound; a SIGKILLed host is an expected outcome;
 * - processes: none of the job's processes is left (the tree is sampled every 100 ms while the job
 *   runs, so a runner re-parented to pid 1 after its host died is still accounted for);
 * - files: nothing of the job is left in /dev/shm (ring directories are named after their owner's
 *   pid) or in the temporary directory (each run gets its own TMPDIR). After a SIGKILLed host the
 *   next start of a Millrace process must clean up, so the harness starts one (`millrace --version`);
 * - records: where the job counts ids (stream-to-cluster: every number summed once, with replay),
 *   a success whose counts differ, or a RecordsLostError, is a lost record.
 *
 * Used by `npm run chaos` (scripts/chaos/run.mjs) and by test/src/chaos.test.ts (a few runs).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendantsOf } from '@millrace/runner-kit/testing';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'packages', 'cli', 'dist', 'bin.js');
const python = process.env.MILLRACE_PYTHON ?? '/usr/bin/python3';

/** The jobs the suite starts, the processes it may hit, and how long an outcome may take. */
export const scenarios = {
  'stream-to-cluster': {
    job: join(root, 'examples', 'stream-to-cluster'),
    args: (size) => ['--count', String(size === 'short' ? 300_000 : 1_000_000)],
    victims: { host: 1, runner: 2 },
    /** Runner roles of this job; `ps` is told apart. */
    runnerRoles: ['summer'],
    boundMs: 120_000,
    /** The kill falls within this long after the first runner appeared. */
    // Sized to the job's length (1M records stream in about 3 s on 2 quiet cores since the
    // pipeline yields), so the moment falls mid-stream rather than after the end.
    windowMs: (size) => (size === 'short' ? 1_000 : 2_000),
    checkRecords: streamToClusterRecords,
  },
  'tensorflow-async': {
    job: join(root, 'scripts', 'chaos', 'jobs', 'tensorflow-async.mjs'),
    args: (size) => ['--batches', size === 'short' ? '150' : '300'],
    victims: { host: 1, runner: 2, ps: 1 },
    runnerRoles: ['worker'],
    boundMs: 180_000,
    windowMs: (size) => (size === 'short' ? 1_000 : 2_500),
  },
  'pytorch-ddp': {
    job: join(root, 'scripts', 'chaos', 'jobs', 'pytorch-ddp.mjs'),
    args: (size) => ['--steps', size === 'short' ? '100' : '200'],
    victims: { host: 1, runner: 2 },
    runnerRoles: ['worker'],
    boundMs: 240_000,
    windowMs: () => 8_000,
    available: () => spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0,
  },
};

export const scenarioNames = Object.keys(scenarios);

/** mulberry32: a small seeded generator, so a seed replays the same plan. */
export function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What a seed does: the scenario (rotating through `scenarioNames` unless given), the victim
 * (weighted by the scenario's `victims`), the signal, the moment and, for SIGSTOP, the pause.
 */
export function planFor(seed, overrides = {}) {
  const next = random(seed);
  const scenario = overrides.scenario ?? scenarioNames[seed % scenarioNames.length];
  const spec = scenarios[scenario];
  const weighted = Object.entries(spec.victims).flatMap(([kind, weight]) => Array(weight).fill(kind));
  const victim = overrides.victim ?? weighted[Math.floor(next() * weighted.length)];
  const signal = overrides.signal ?? (next() < 0.7 ? 'SIGKILL' : 'SIGSTOP');
  const size = overrides.size ?? 'full';
  const atMs = overrides.atMs ?? Math.round(next() * spec.windowMs(size));
  const pauseMs = signal === 'SIGSTOP' ? 1_000 + Math.round(next() * 4_000) : 0;
  /** Which of the processes of the victim's kind, when several run (0 ≤ pick < 1). */
  const pick = next();
  return { seed, scenario, victim, signal, atMs, pauseMs, pick, size };
}

function startTimeOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Alive and still the same process (a pid can be reused by a later process). */
function stillRunning(entry) {
  return startTimeOf(entry.pid) === entry.startTime;
}

function roleOf(pid) {
  try {
    const environment = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const role = environment.find((line) => line.startsWith('MILLRACE_ROLE='))?.slice(14);
    const index = environment.find((line) => line.startsWith('MILLRACE_INDEX='))?.slice(15);
    if (role !== undefined) return `${role}[${index}]`;
    // A TF.js training process gets its node as one JSON payload instead.
    const payload = environment.find((line) => line.startsWith('MILLRACE_TF_NODE='))?.slice(17);
    if (payload === undefined) return undefined;
    const node = JSON.parse(payload);
    return `${node.role}[${node.index}]`;
  } catch {
    return undefined;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function listFiles(directory) {
  const found = [];
  const walk = (path) => {
    let entries;
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = join(path, entry.name);
      found.push({ path: full, directory: entry.isDirectory() });
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(directory);
  return found;
}

function streamToClusterRecords({ stdout, args }) {
  const count = Number(args[args.indexOf('--count') + 1]);
  const parts = [...stdout.matchAll(/summer\[\d+\]: (\d+) records, sum (\d+)/g)];
  const received = parts.reduce((sum, match) => sum + Number(match[1]), 0);
  const total = parts.reduce((sum, match) => sum + Number(match[2]), 0);
  const expected = (count * (count + 1)) / 2;
  if (received !== count || total !== expected || !stdout.includes(`total ${expected} =`)) {
    return [
      `records: the runners counted ${received} numbers summing to ${total}; expected ${count} summing to ${expected}`,
    ];
  }
  return [];
}

/**
 * Runs one seed's plan and checks it. Resolves `{ plan, outcome, exitCode, seconds, killed,
 * checks, violations }`; `checks` maps each check to `ok` or what went wrong.
 */
export async function runChaos(plan, options = {}) {
  const log = options.log ?? (() => {});
  const spec = scenarios[plan.scenario];
  if (spec.available && !spec.available()) {
    return { plan, skipped: `${plan.scenario}: ${python} cannot import torch`, checks: {}, violations: [] };
  }
  const temporary = mkdtempSync(join(tmpdir(), 'millrace-chaos-'));
  const env = { ...process.env, TMPDIR: temporary, FORCE_COLOR: '0' };
  delete env.NODE_OPTIONS; // a test runner's loader hooks are not the user's
  const args = spec.args(plan.size);
  const shmBefore = new Set(existsSync('/dev/shm') ? readdirSync('/dev/shm') : []);
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'run', spec.job, '--', ...args], {
    cwd: root,
    env,
    detached: true, // its own process group: the harness can end every process of it at the end
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let exit;
  exited.then((value) => {
    exit = value;
  });

  /** Every process of the job ever seen: pid → { pid, startTime, role }. */
  const seen = new Map();
  const hostStart = startTimeOf(child.pid);
  if (hostStart !== undefined) seen.set(child.pid, { pid: child.pid, startTime: hostStart, role: 'host' });
  const sample = () => {
    for (const entry of descendantsOf(child.pid)) {
      const known = seen.get(entry.pid);
      if (known && known.startTime === entry.startTime) {
        // Between fork and exec a child still has its parent's environment: look again.
        known.role ??= roleOf(entry.pid);
        continue;
      }
      seen.set(entry.pid, { pid: entry.pid, startTime: entry.startTime, role: roleOf(entry.pid) });
    }
  };
  const sampler = setInterval(sample, 100);

  const killed = { victim: plan.victim, pid: undefined, role: undefined, atMs: undefined };
  const deadline = started + spec.boundMs;
  try {
    // Wait for the first runner, then for the drawn moment, then hit the victim (waiting on for
    // one while none of its kind runs, e.g. between a restart's stop and start).
    const candidates = () =>
      [...seen.values()].filter((entry) => {
        if (!stillRunning(entry)) return false;
        if (plan.victim === 'host') return entry.role === 'host';
        const role = entry.role?.replace(/\[\d+\]$/, '');
        return plan.victim === 'ps' ? role === 'ps' : spec.runnerRoles.includes(role);
      });
    let firstRunnerAt;
    let victim;
    while (exit === undefined && performance.now() < deadline) {
      sample();
      if (firstRunnerAt === undefined) {
        const runners = [...seen.values()].filter((entry) => entry.role && entry.role !== 'host');
        if (runners.some(stillRunning)) firstRunnerAt = performance.now();
      }
      if (firstRunnerAt !== undefined && performance.now() - firstRunnerAt >= plan.atMs) {
        const found = candidates();
        if (found.length > 0) {
          victim = found[Math.floor(plan.pick * found.length)];
          break;
        }
      }
      await sleep(50);
    }
    if (victim) {
      killed.pid = victim.pid;
      killed.role = victim.role;
      killed.atMs = Math.round(performance.now() - started);
      log(`seed ${plan.seed}: ${plan.signal} ${victim.role} (pid ${victim.pid}) at ${killed.atMs} ms`);
      try {
        process.kill(victim.pid, plan.signal);
        if (plan.signal === 'SIGSTOP') {
          await sleep(plan.pauseMs);
          process.kill(victim.pid, 'SIGCONT');
        }
      } catch {
        // It ended on its own just now.
      }
    }
    while (exit === undefined && performance.now() < deadline) {
      sample();
      await sleep(100);
    }
  } finally {
    clearInterval(sampler);
  }

  const violations = [];
  const checks = {};
  const seconds = (performance.now() - started) / 1000;
  // 1. Outcome within the bound.
  let outcome;
  if (exit === undefined) {
    outcome = 'no outcome';
    checks.outcome = `no outcome within ${spec.boundMs / 1000} s`;
    violations.push(checks.outcome);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    await exited;
  } else if (exit.code === 0) {
    outcome = 'succeeded';
    checks.outcome = 'ok';
  } else if (exit.signal === 'SIGKILL' && killed.role === 'host' && plan.signal === 'SIGKILL') {
    outcome = 'host killed';
    checks.outcome = 'ok';
  } else {
    const named = /^millrace: ([A-Z][A-Za-z]*Error)\b/m.exec(stderr)?.[1];
    outcome = `failed${named ? ` (${named})` : ''}`;
    if (named && named !== 'Error') {
      checks.outcome = 'ok';
    } else {
      checks.outcome = `exit ${exit.code ?? exit.signal} without a named error: ${stderr.trim().split('\n').slice(-3).join(' | ') || '(stderr empty)'}`;
      violations.push(checks.outcome);
    }
  }
  // 2. Records.
  if (spec.checkRecords) {
    const problems = [];
    if (/RecordsLostError/.test(stderr)) problems.push('records: RecordsLostError');
    if (exit?.code === 0) problems.push(...spec.checkRecords({ stdout, args }));
    checks.records = problems.length ? problems.join('; ') : 'ok';
    violations.push(...problems);
  }
  // After a SIGKILLed host nothing of its own could clean up: the next Millrace start must.
  if (outcome === 'host killed') {
    spawnSync(process.execPath, [cli, '--version'], { env, stdio: 'ignore', timeout: 60_000 });
  }
  // 3. Processes: a runner dies with its host (parent-death signal) or is stopped by its agent.
  const processDeadline = performance.now() + 10_000;
  let left = [...seen.values()].filter(stillRunning);
  while (left.length > 0 && performance.now() < processDeadline) {
    await sleep(100);
    left = left.filter(stillRunning);
  }
  checks.processes = left.length
    ? `left running: ${left.map((entry) => `${entry.role ?? 'process'} pid ${entry.pid}`).join(', ')}`
    : 'ok';
  if (left.length) violations.push(checks.processes);
  for (const entry of left) {
    try {
      process.kill(entry.pid, 'SIGKILL'); // so the next run starts clean
    } catch {}
  }
  // 4. Files: the run's temporary directory holds only this user's (empty) Millrace folders.
  const uid = process.getuid?.() ?? 'user';
  const allowed = new Set([`millrace-${uid}`, join(`millrace-${uid}`, 'jobs')]);
  const leftFiles = listFiles(temporary)
    .map((entry) => relative(temporary, entry.path))
    .filter((path) => !allowed.has(path));
  const pids = new Set([...seen.keys()].map(String));
  const leftShm = (existsSync('/dev/shm') ? readdirSync('/dev/shm') : []).filter(
    (name) => !shmBefore.has(name) && name.split(/\D+/).some((token) => pids.has(token)),
  );
  const files = [...leftShm.map((name) => `/dev/shm/${name}`), ...leftFiles.map((path) => `$TMPDIR/${path}`)];
  checks.files = files.length ? `left: ${files.slice(0, 4).join(', ')}${files.length > 4 ? ' …' : ''}` : 'ok';
  if (files.length) violations.push(checks.files);
  rmSync(temporary, { recursive: true, force: true });
  for (const name of leftShm) rmSync(join('/dev/shm', name), { recursive: true, force: true });

  return {
    plan,
    outcome,
    exitCode: exit?.code ?? exit?.signal ?? null,
    seconds,
    killed,
    checks,
    violations,
    /** Every process of the job seen while it ran: pid, role (`host`, `worker[1]` …). */
    processes: [...seen.values()].map(({ pid, role }) => ({ pid, role })),
    stderrTail: stderr.trim().split('\n').slice(-5).join('\n'),
  };
}

/** One run as a small table: what was done, then each check. */
export function formatRun(result) {
  const { plan } = result;
  if (result.skipped) return `seed ${plan.seed}  ${plan.scenario}  skipped: ${result.skipped}\n`;
  const what = result.killed.pid
    ? `${plan.signal}${plan.signal === 'SIGSTOP' ? ` ${plan.pauseMs} ms` : ''} ${result.killed.role} (pid ${result.killed.pid}) at ${result.killed.atMs} ms`
    : `${plan.signal} ${plan.victim}: the job ended before the moment came`;
  const rows = [
    ['job', plan.scenario],
    ['chaos', what],
    ['result', `${result.outcome} (exit ${result.exitCode}) in ${result.seconds.toFixed(1)} s`],
    ...Object.entries(result.checks).map(([name, value]) => [name, value]),
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  const lines = [`seed ${plan.seed}: ${result.violations.length} violation(s)`];
  for (const [name, value] of rows) lines.push(`  ${name.padEnd(width)}  ${value}`);
  return `${lines.join('\n')}\n`;
}
