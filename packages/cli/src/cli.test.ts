import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePrometheusText } from '@millrace/dashboard/testing';
import { createSelfSignedIdentity } from '@millrace/runtime';
import { processesWithMarker } from '@millrace/runtime/testing';
import { afterEach, describe, expect, it } from 'vitest';

// These tests run the built command (`dist/bin.js`), as a user would; `npm test` builds first.
const bin = join(import.meta.dirname, '..', 'dist', 'bin.js');
const fixture = join(import.meta.dirname, 'test-fixtures', 'cluster-job.mjs');
const marker = `millrace-cli-test-${randomUUID()}`;
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  expect(processesWithMarker(marker)).toEqual([]);
});

function start(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
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
  return {
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    firstLine: () =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const newline = stdout.indexOf('\n');
          if (newline >= 0) resolve(stdout.slice(0, newline));
        };
        child.stdout!.on('data', check);
        child.on('close', () => reject(new Error(`exited before printing a line: ${stderr}`)));
        check();
      }),
  };
}

async function run(args: string[], env?: NodeJS.ProcessEnv) {
  const process = start(args, env);
  const code = await process.exited;
  return { code, stdout: process.stdout(), stderr: process.stderr() };
}

describe('millrace am / node / status / stop', () => {
  it('forms a cluster by hand: am prints address and token, two nodes run, everyone exits 0', async () => {
    const am = start(['am', '--roles', 'worker=2']);
    const { address, token } = JSON.parse(await am.firstLine()) as { address: string; token: string };
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);

    const status = await run(['status', '--am', address, '--token', token, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      state: 'initializing',
      nodes: [{ status: 'pending' }, { status: 'pending' }],
    });

    const script = 'if (!process.env.MILLRACE_CLUSTER_SPEC.includes("worker")) process.exit(9)';
    const nodes = [0, 1].map((index) =>
      start([
        'node',
        '--am',
        address,
        '--token',
        token,
        '--role',
        'worker',
        '--index',
        String(index),
        '--',
        process.execPath,
        '-e',
        script,
        marker,
      ]),
    );
    expect(await Promise.all(nodes.map((node) => node.exited))).toEqual([0, 0]);
    expect(await am.exited).toBe(0);
    expect(am.stderr()).toMatch(/cluster ready: worker×2/);
    expect(am.stderr()).toMatch(/job succeeded/);
  });

  it('knows the built-in engines by name: a hand-formed pytorch cluster gets torchrun variables', async () => {
    const am = start(['am', '--engine', 'pytorch', '--roles', 'worker=2']);
    const { address, token } = JSON.parse(await am.firstLine()) as { address: string; token: string };
    const script =
      'const e = process.env; if (e.WORLD_SIZE !== "2" || e.RANK !== e.MILLRACE_INDEX || !/^\\d+$/.test(e.MASTER_PORT)) process.exit(9)';
    const nodes = [0, 1].map((index) =>
      start([
        'node',
        '--am',
        address,
        '--token',
        token,
        '--role',
        'worker',
        '--index',
        String(index),
        '--engine',
        'pytorch',
        '--',
        process.execPath,
        '-e',
        script,
        marker,
      ]),
    );
    expect(await Promise.all(nodes.map((node) => node.exited))).toEqual([0, 0]);
    expect(await am.exited).toBe(0);
  });

  it('joins over TLS with the join URL alone: am prints it, node reads it from a file, status from MILLRACE_JOIN, stop from --join', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'millrace-cli-tls-'));
    try {
      const identity = await createSelfSignedIdentity();
      writeFileSync(join(directory, 'cert.pem'), identity.certificate);
      writeFileSync(join(directory, 'key.pem'), identity.privateKey, { mode: 0o600 });
      const am = start([
        'am',
        '--roles',
        'worker=1',
        '--listen',
        '127.0.0.1:0',
        '--tls-cert',
        join(directory, 'cert.pem'),
        '--tls-key',
        join(directory, 'key.pem'),
      ]);
      const printed = JSON.parse(await am.firstLine()) as { address: string; token: string; join: string };
      expect(printed.join).toBe(
        `millrace://${printed.address}?token=${printed.token}&ca=sha256:${identity.fingerprint}`,
      );
      // A plaintext --am/--token client gets no answer from the TLS port.
      const plaintext = await run(['status', '--am', printed.address, '--token', printed.token]);
      expect(plaintext.code).toBe(1);
      // A join URL pinning another certificate is refused by name, before anything is sent.
      const wrong = printed.join.replace(/sha256:[0-9a-f]+/, `sha256:${'0'.repeat(64)}`);
      const refused = await run(['status', '--join', wrong]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/ServerIdentityError|presented a certificate with fingerprint/);
      expect(refused.stderr).toMatch(/Nothing was sent to it/);

      writeFileSync(join(directory, 'join'), `${printed.join}\n`, { mode: 0o600 });
      const node = start([
        'node',
        '--join-file',
        join(directory, 'join'),
        '--role',
        'worker',
        '--index',
        '0',
        '--',
        process.execPath,
        '-e',
        `setTimeout(() => {}, 60000); // ${marker}`,
      ]);
      let status = { code: -1, stdout: '' };
      const deadline = Date.now() + 30_000;
      while (!/running/.test(status.stdout) && Date.now() < deadline) {
        status = await run(['status', '--json'], { ...process.env, MILLRACE_JOIN: printed.join });
        if (!/"status":"running"/.test(status.stdout))
          await new Promise((resolve) => setTimeout(resolve, 200));
        else break;
      }
      expect(JSON.parse(status.stdout)).toMatchObject({
        nodes: [{ role: 'worker', status: 'running', host: '127.0.0.1' }],
      });
      const stopped = await run(['stop', '--join', printed.join]);
      expect(stopped).toMatchObject({ code: 0, stdout: 'job stopped\n' });
      expect(await node.exited).toBe(0);
      expect(await am.exited).toBe(0);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }, 90_000);

  it('refuses a wrong token and stops the job with `millrace stop`', async () => {
    const am = start(['am', '--roles', 'worker=1']);
    const { address, token } = JSON.parse(await am.firstLine()) as { address: string; token: string };
    const refused = await run(['status', '--am', address, '--token', 'wrong']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/job token is missing or wrong/);
    const node = start([
      'node',
      '--am',
      address,
      '--token',
      'wrong',
      '--role',
      'worker',
      '--index',
      '0',
      '--',
      'true',
    ]);
    expect(await node.exited).toBe(1);
    expect(node.stderr()).toMatch(/token/);

    const status = await run(['status', '--am', address, '--token', token]);
    expect(status.stdout).toMatch(
      /^job millrace-job \(engine generic\): initializing, generation 0, restarts 0\/3\n {2}worker\[0\] +pending/,
    );

    const stopped = await run(['stop', '--am', address, '--token', token]);
    expect(stopped).toMatchObject({ code: 0, stdout: 'job stopped\n' });
    expect(await am.exited).toBe(0);
  });

  it('a node whose AM dies stops its runner and exits 1 instead of hanging', async () => {
    const am = start(['am', '--roles', 'worker=1']);
    const { address, token } = JSON.parse(await am.firstLine()) as { address: string; token: string };
    const node = start([
      'node',
      '--am',
      address,
      '--token',
      token,
      '--role',
      'worker',
      '--index',
      '0',
      '--am-timeout',
      '1000',
      '--',
      process.execPath,
      '-e',
      'setInterval(() => {}, 1000)',
      marker,
    ]);
    await new Promise<void>((resolve) => {
      am.child.stderr!.on('data', () => am.stderr().includes('worker[0] started') && resolve());
    });
    am.child.kill('SIGKILL');
    expect(await node.exited).toBe(1);
    expect(node.stderr()).toMatch(/Timed out after 1000 ms waiting for the application manager/);
  });

  it('a survivor exits 1 when the job failed (it printed "leaving: job failed" and exited 0)', async () => {
    const am = start(['am', '--roles', 'worker=2', '--max-restarts', '0']);
    const { address, token } = JSON.parse(await am.firstLine()) as { address: string; token: string };
    const node = (index: number, script: string) =>
      start([
        'node',
        '--am',
        address,
        '--token',
        token,
        '--role',
        'worker',
        '--index',
        String(index),
        '--grace',
        '500',
        '--',
        process.execPath,
        '-e',
        script,
        marker,
      ]);
    // worker[1] would run for a minute; worker[0] fails, the job fails, worker[1] is stopped cleanly.
    const survivor = node(1, 'setInterval(() => {}, 1000)');
    const failing = node(0, 'setTimeout(() => process.exit(4), 300)');
    expect(await failing.exited).toBe(1);
    expect(await survivor.exited).toBe(1);
    expect(survivor.stderr()).toMatch(/leaving: job failed/);
    expect(await am.exited).toBe(1);
  });

  it('the job token never reaches the runner (MILLRACE_TOKEN was passed on to it)', async () => {
    const am = start(['am', '--roles', 'worker=1']);
    const { address, token } = JSON.parse(await am.firstLine()) as { address: string; token: string };
    const child = spawn(
      process.execPath,
      [
        bin,
        'node',
        '--am',
        address,
        '--role',
        'worker',
        '--index',
        '0',
        '--',
        process.execPath,
        '-e',
        // Exit 7 when the runner can see the token in any variable.
        `if (Object.values(process.env).some((value) => value && value.includes(${JSON.stringify(token)}))) process.exit(7)`,
        marker,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MILLRACE_TOKEN: token } },
    );
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number>((resolve) => child.on('close', (exit) => resolve(exit ?? -1)));
    expect(code, stderr).toBe(0);
    expect(await am.exited).toBe(0);
  });

  it('--log-format json: every line am and node write on stderr is a pino record; a bad format is named', async () => {
    const am = start(['am', '--roles', 'worker=1', '--log-format', 'json']);
    const { join: joinUrl } = JSON.parse(await am.firstLine()) as { join: string };
    const node = start([
      'node',
      '--log-format',
      'json',
      '--join',
      joinUrl,
      '--role',
      'worker',
      '--index',
      '0',
      '--',
      process.execPath,
      '-e',
      '',
      marker,
    ]);
    expect(await node.exited).toBe(0);
    expect(await am.exited).toBe(0);
    const records = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { level: number; time: string; name: string; msg: string });
    const amRecords = records(am.stderr());
    expect(amRecords.map((record) => record.msg)).toContain('worker[0] finished');
    for (const record of amRecords) expect(record).toMatchObject({ name: 'am', level: 30 });
    expect(records(node.stderr())).toContainEqual(
      expect.objectContaining({ name: 'node', msg: 'leaving: the job finished' }),
    );
    const refused = await run(['am', '--roles', 'worker=1', '--log-format', 'xml']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/log-format: 'xml' is not a log format: use human or json/);
  });

  it('an unreachable AM is named without an empty "Resolution note:"', async () => {
    const result = await run(['status', '--am', '127.0.0.1:1', '--token', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/application manager at 127\.0\.0\.1:1/);
    expect(result.stderr).not.toMatch(/Resolution note:\s*$/m);
  });

  it('rejects invalid input before anything starts, naming the field', async () => {
    const zero = await run(['am', '--roles', 'worker=0']);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/config\.roles\.worker\.instances/);
    const engine = await run(['am', '--roles', 'worker=1', '--engine', 'nope']);
    expect(engine.stderr).toMatch(/unknown engine 'nope': not built in \(generic, tensorflow, pytorch\)/);
    const missing = await run(['status']);
    expect(missing.stderr).toMatch(
      /options\.join: is required: --join URL, --join-file FILE or MILLRACE_JOIN/,
    );
  });
});

describe('millrace am --ui / millrace dashboard --join', () => {
  /** Resolves with the first match of `pattern` in what `read` returns, polling; rejects after `timeoutMs`. */
  async function matchIn(read: () => string, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(read());
      if (match) return match;
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms in:\n${read()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function scrape(url: string, token: string) {
    const response = await fetch(new URL('/metrics', url), { headers: { authorization: `Bearer ${token}` } });
    const text = await response.text();
    return { status: response.status, scrape: parsePrometheusText(response.status === 200 ? text : '') };
  }

  it("a standalone cluster seen two ways: the AM's own dashboard (job token accepted) and one joined from elsewhere, with real heartbeat ages and the restart's reason; both end with the job", async () => {
    const directory = mkdtempSync(join(tmpdir(), 'millrace-dashboard-test-'));
    try {
      const am = start(['am', '--roles', 'worker=2', '--ui', '127.0.0.1:0', '--max-restarts', '2']);
      const { join: joinUrl, token } = JSON.parse(await am.firstLine()) as { join: string; token: string };
      const amUrl = (await matchIn(am.stderr, /^dashboard: (http:\S+)$/m))[1]!;
      const viewer = start(['dashboard', '--join', joinUrl]);
      const viewerUrl = (await matchIn(viewer.stderr, /^dashboard: (http:\S+)$/m))[1]!;
      const viewerToken = new URL(viewerUrl).searchParams.get('token')!;

      // worker[1] fails once (exit 3), is restarted, then both run until the file "finish" appears.
      const runner = (index: number) =>
        `const fs = require("node:fs"); const dir = ${JSON.stringify(directory)};` +
        (index === 1
          ? `if (!fs.existsSync(dir + "/failed-once")) { fs.writeFileSync(dir + "/failed-once", ""); process.exit(3); }`
          : '') +
        `const timer = setInterval(() => fs.existsSync(dir + "/finish") && clearInterval(timer), 100);`;
      const nodes = [0, 1].map((index) =>
        start([
          'node',
          '--join',
          joinUrl,
          '--role',
          'worker',
          '--index',
          String(index),
          '--',
          process.execPath,
          '-e',
          runner(index),
          marker,
        ]),
      );

      // While the job runs, after the restart: both servers answer with the same picture.
      for (const [url, reader] of [
        [amUrl, token],
        [viewerUrl, viewerToken],
      ] as const) {
        let found: Awaited<ReturnType<typeof scrape>>['scrape'] | undefined;
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          const { status, scrape: metrics } = await scrape(url, reader);
          expect(status).toBe(200);
          const restarts = metrics.samples.find(
            (sample) =>
              sample.name === 'millrace_cluster_restarts_total' && sample.labels.reason === 'exited',
          );
          const heartbeats = metrics.samples.filter(
            (sample) => sample.name === 'millrace_node_heartbeat_age_seconds',
          );
          const running = metrics.samples.find(
            (sample) => sample.name === 'millrace_nodes' && sample.labels.state === 'running',
          );
          if (restarts?.value === 1 && heartbeats.length === 2 && running?.value === 2) {
            found = metrics;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(found, `${url}: no restart by reason "exited" with two running nodes`).toBeDefined();
        // A heartbeat age is a real age: nodes heartbeat every 500 ms, so it is small, never the
        // seconds since the last metrics report.
        for (const sample of found!.samples.filter((s) => s.name === 'millrace_node_heartbeat_age_seconds'))
          expect(sample.value).toBeLessThan(10);
        expect((await scrape(url, 'wrong')).status).toBe(401);
      }
      // The page opens as printed; both servers also take the job token (scrapers that have it).
      expect((await fetch(amUrl)).status).toBe(200);
      expect((await scrape(viewerUrl, token)).status).toBe(200);

      writeFileSync(join(directory, 'finish'), '');
      for (const node of nodes) expect(await node.exited).toBe(0);
      expect(await am.exited).toBe(0);
      expect(await viewer.exited, viewer.stderr()).toBe(0);
      expect(viewer.stdout()).toMatch(/^job millrace-job: finished/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }, 120_000);

  it('the viewer exits 1 naming the AM when it cannot read its status', async () => {
    const refused = await run(['dashboard', '--am', '127.0.0.1:9', '--token', 'x']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/127\.0\.0\.1:9/);
  });
});

describe('millrace --version', () => {
  it("prints the CLI package's version, also through npx in the repository root", async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'));
    const direct = await run(['--version']);
    expect(direct).toMatchObject({ code: 0, stdout: `${version}\n` });
    // The repository's bootstrap links the bin after building; the README's `npx millrace` needs it.
    const repositoryRoot = join(import.meta.dirname, '..', '..', '..');
    const viaNpx = spawnSync('npx', ['--no-install', 'millrace', '--version'], {
      cwd: repositoryRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(viaNpx.stdout, viaNpx.stderr).toBe(`${version}\n`);
  }, 90_000);
});

describe('millrace run', () => {
  it('runs a job module and reports JSON events; exit 0 on success', async () => {
    const result = await run(['run', '--json', fixture, '2', 'succeed', marker]);
    expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(0);
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.some((e) => e.type === 'log' && e.message === 'running 2 workers')).toBe(true);
    expect(
      events.some((e) => e.type === 'cluster-observation' && e.observation.type === 'cluster-ready'),
    ).toBe(true);
    expect(
      events.some((e) => e.observation?.type === 'node-metrics' && e.observation.metrics.loss === 0.5),
    ).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', status: 'succeeded' });
  });

  it('--ui serves the dashboard and /metrics while the job runs; the printed URL carries a read-only token', async () => {
    const job = start(['run', '--ui', '127.0.0.1:0', '--json', fixture, '2', 'succeed', marker]);
    const first = JSON.parse(await job.firstLine()) as { type: string; message: string };
    const url = /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)$/.exec(first.message)?.[1];
    expect(url, first.message).toBeDefined();
    const token = new URL(url!).searchParams.get('token')!;
    const metrics = await fetch(new URL('/metrics', url), { headers: { authorization: `Bearer ${token}` } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^millrace_job_duration_seconds \d/m);
    expect((await fetch(new URL('/metrics', url), { headers: { authorization: 'Bearer x' } })).status).toBe(
      401,
    );
    expect((await fetch(url!)).status).toBe(200);
    expect(await job.exited).toBe(0);
    // stdout stays one JSON object a line.
    for (const line of job.stdout().trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it("--json keeps stdout pure JSON: a runner's own output lines arrive as timestamped runner-output events", async () => {
    const result = await run(['run', '--json', fixture, '2', 'chatty', marker]);
    expect(result.code, result.stderr).toBe(0);
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; time: string; line?: string; stream?: string });
    const lines = events.filter((event) => event.type === 'runner-output');
    expect(lines.map((event) => `${event.stream} ${event.line}`).sort()).toEqual([
      'stderr warning from 0',
      'stderr warning from 1',
      'stdout hello from 0',
      'stdout hello from 1',
    ]);
    for (const event of events) expect(Date.parse(event.time)).toBeGreaterThan(0);
  });

  it("--json events keep coming while a pipeline stage holds the job's thread for 5 s: heartbeats from the board thread, at least one a second", async () => {
    const job = join(import.meta.dirname, 'test-fixtures', 'blocking-job.mjs');
    const result = await run(['run', '--json', job, '5000', marker]);
    expect(result.code, result.stderr).toBe(0);
    type Event = {
      type: string;
      time: string;
      message?: string;
      elapsedMs?: number;
      jobThreadBusyMs?: number;
      clusters?: {
        cluster: string;
        readAt: string;
        status: { state: string; nodes: { role: string; status: string }[] };
      }[];
    };
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Event);
    const at = (message: string) => events.findIndex((event) => event.message === message);
    const held = at('holding the thread');
    const released = at('released the thread');
    expect(held, result.stdout).toBeGreaterThanOrEqual(0);
    expect(released).toBeGreaterThan(held);
    // While the thread was held: events at least every 1.5 s, the heartbeats saying it is busy.
    const during = events.slice(held, released + 1);
    const times = during.map((event) => Date.parse(event.time));
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(4_500);
    const gaps = times.slice(1).map((time, i) => time - times[i]!);
    expect(Math.max(...gaps), JSON.stringify(during)).toBeLessThanOrEqual(1_500);
    const busy = during.filter((event) => event.type === 'heartbeat' && event.jobThreadBusyMs !== undefined);
    expect(busy.length).toBeGreaterThanOrEqual(3);
    // The clock kept moving: each heartbeat later than the one before.
    const elapsed = events.filter((event) => event.type === 'heartbeat').map((event) => event.elapsedMs!);
    for (let i = 1; i < elapsed.length; i++) expect(elapsed[i]!).toBeGreaterThan(elapsed[i - 1]!);
    // The board thread reads the cluster's status from its AM (on its own thread) itself: fresh
    // reads arrived while the job's thread was held.
    const readsDuring = new Set(
      busy.flatMap((event) =>
        (event.clusters ?? [])
          .filter((cluster) => cluster.cluster === 'blocking-test-am')
          .map((cluster) => Date.parse(cluster.readAt))
          .filter((readAt) => readAt > times[0]!),
      ),
    );
    expect(readsDuring.size, JSON.stringify(busy)).toBeGreaterThanOrEqual(2);
    expect(busy.at(-1)!.clusters![0]!.status.nodes).toEqual([
      expect.objectContaining({ role: 'worker', status: 'running' }),
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', status: 'succeeded' });
  }, 60_000);

  it("--ui: the dashboard also gets the board thread's status reads of the AM, so each node's heartbeat age is there", async () => {
    const job = join(import.meta.dirname, 'test-fixtures', 'blocking-job.mjs');
    const run = start(['run', '--ui', '127.0.0.1:0', '--json', job, '1000', marker]);
    const first = JSON.parse(await run.firstLine()) as { message: string };
    const url = /^dashboard: (http:\S+)$/.exec(first.message)?.[1];
    expect(url, first.message).toBeDefined();
    const token = new URL(url!).searchParams.get('token')!;
    const headers = { authorization: `Bearer ${token}` };
    await expect
      .poll(
        async () => {
          const metrics = await (await fetch(new URL('/metrics', url), { headers })).text();
          return /^millrace_node_heartbeat_age_seconds\{cluster="blocking-test-am",role="worker",index="0"\} [\d.e-]+$/m.test(
            metrics,
          );
        },
        { timeout: 20_000, interval: 250 },
      )
      .toBe(true);
    expect(await run.exited, run.stderr()).toBe(0);
  }, 60_000);

  it('--ui refuses an address that is not [HOST:]PORT', async () => {
    const result = await run(['run', '--ui', 'nowhere', fixture, '2', 'succeed', marker]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/'nowhere' is not a listen address: give \[HOST:\]PORT/);
  });

  it('prints plain lines off a TTY and exits 1 naming the failed node', async () => {
    const result = await run(['run', fixture, '2', 'fail', marker]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/\[cli-test\] cluster ready: worker×2/);
    expect(result.stdout).toMatch(/run failed/);
    expect(result.stderr).toMatch(/worker\[0\].*exit code 5/);
    expect(result.stderr).toMatch(/worker 0 cannot go on/);
  });

  it('shows how far a job with a bounded source is: plain lines, and progress in the JSON events', async () => {
    const job = join(import.meta.dirname, 'test-fixtures', 'progress-job.mjs');
    const plain = await run(['run', job]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/job progress: 100% of the source records \(2\.0k of 2\.0k\)/);
    const json = await run(['run', '--json', job]);
    const progress = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((event) => event.type === 'operator-metrics')
      .map((event) => event.progress);
    expect(progress.at(-1)).toEqual({ done: 2000, total: 2000 });
    expect(progress.every((step: { total: number }) => step.total === 2000)).toBe(true);
  });

  it('failures go to stderr, not only stdout (stderr was empty when a run failed)', async () => {
    const result = await run(['run', fixture, '1', 'fail', marker]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^millrace: Job 'cli-test' failed/m);
    expect(result.stdout).not.toMatch(/Job 'cli-test' failed/);
    const json = await run(['run', '--json', fixture, '1', 'fail', marker]);
    expect(json.code).toBe(1);
    expect(json.stderr).toMatch(/^millrace: Job 'cli-test' failed/m);
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!)).toMatchObject({ status: 'failed' });
  });

  it('cancels cleanly on SIGINT with exit code 130 and no runner left behind', async () => {
    const job = start(['run', '--json', fixture, '2', 'hang', marker]);
    await new Promise<void>((resolve) => {
      job.child.stdout!.on('data', () => {
        if (job.stdout().includes('"node-metrics"')) resolve();
      });
    });
    job.child.kill('SIGINT');
    expect(await job.exited).toBe(130);
    expect(job.stdout()).toMatch(/"status":"cancelled"/);
  });

  it('millrace stop of an embedded cluster cancels the whole job: millrace run exits 130, no runner left', async () => {
    const shared = mkdtempSync(join(tmpdir(), 'millrace-cli-stop-'));
    try {
      const streamJob = join(import.meta.dirname, 'test-fixtures', 'stream-job.mjs');
      const job = start(['run', '--json', '--shared-dir', shared, streamJob, marker]);
      await new Promise<void>((resolve) => {
        job.child.stdout!.on('data', () => {
          if (job.stdout().split('"node-started"').length > 2) resolve(); // both runners run
        });
      });
      const joinUrl = readFileSync(join(shared, 'join-url'), 'utf8').trim();
      const stopped = await run(['stop', '--join', joinUrl]);
      expect(stopped.code, stopped.stderr).toBe(0);
      // Before, the role subtasks went on refusing the endless source's records and the job never ended.
      expect(await job.exited, job.stderr()).toBe(130);
      const events = job
        .stdout()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string });
      expect(events.at(-1)).toMatchObject({ type: 'run-finished', status: 'cancelled' });
      expect(processesWithMarker(marker)).toEqual([]);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it('loads a TypeScript job whose default export is a function, passing the job arguments', async () => {
    const result = await run([
      'run',
      join(import.meta.dirname, 'test-fixtures', 'default-export-job.ts'),
      'hello',
      '--loud',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/typescript job says HELLO --LOUD/);
  });

  it('runs a directory through its package.json main', async () => {
    const result = await run(['run', join(import.meta.dirname, 'test-fixtures', 'job-package'), 'a', 'b']);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/package job got 2 argument\(s\)/);
  });

  it('explains a path that does not exist', async () => {
    const result = await run(['run', 'no/such/job.ts']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/run failed/);
    expect(result.stderr).toMatch(/'no\/such\/job\.ts' does not exist/);
  });
});
