/**
 * The engine as a user installs it: @millrace/* and this package from `npm pack` tarballs in a
 * fresh project outside the repository, the engine found by its package name
 * (`millrace am --engine millrace-engine-xgboost`), a tracker and 2 workers started by hand with
 * `millrace node`, predictions equal to single-process training on the same data. The same
 * installed project is the consumer test of the packages: `npx millrace --help`, and the job of
 * docs/writing-a-runner.md run exactly as the guide writes it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedProject, repositoryRoot } from './packed-project.mjs';

const python = '/usr/bin/python3';
const hasXgboost = spawnSync(python, ['-c', 'import xgboost'], { stdio: 'ignore' }).status === 0;
const predictionTolerance = 1e-6;
const children = [];

function millrace(project, args, env = {}) {
  const child = spawn(join(project, 'node_modules', '.bin', 'millrace'), args, {
    cwd: project,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text) => {
    stdout += text;
  });
  child.stderr.setEncoding('utf8').on('data', (text) => {
    stderr += text;
  });
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return { exited, stdout: () => stdout, stderr: () => stderr };
}

async function firstLine(process) {
  for (let waited = 0; waited < 60_000; waited += 100) {
    const newline = process.stdout().indexOf('\n');
    if (newline >= 0) return process.stdout().slice(0, newline);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no line from the AM within 60 s: ${process.stderr()}`);
}

describe.skipIf(!hasXgboost)('millrace-engine-xgboost, installed from packed tarballs', () => {
  let project;
  beforeAll(() => {
    project = packedProject({ extraPackages: [join(import.meta.dirname, '..')] });
  }, 600_000);
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('millrace am --engine <package name> runs a 2-worker training that matches one process', async () => {
    const engineDirectory = join(project, 'node_modules', 'millrace-engine-xgboost');
    const train = join(engineDirectory, 'example', 'train.py');
    const single = join(project, 'single.json');
    const distributed = join(project, 'distributed.json');
    const alone = spawnSync(python, [train, '--out', single], { encoding: 'utf8' });
    expect(alone.status, alone.stderr).toBe(0);

    const engine = ['--engine', 'millrace-engine-xgboost'];
    const am = millrace(project, ['am', ...engine, '--roles', 'tracker=1,worker=2']);
    const { address, token } = JSON.parse(await firstLine(am));
    const connection = ['--am', address, '--token', token, ...engine];
    const pythonPath = { PYTHONPATH: join(engineDirectory, 'python') };
    const nodes = [
      millrace(
        project,
        [
          'node',
          ...connection,
          '--role',
          'tracker',
          '--index',
          '0',
          '--',
          python,
          '-m',
          'millrace_xgboost.tracker',
        ],
        pythonPath,
      ),
      ...[0, 1].map((index) =>
        millrace(project, [
          'node',
          ...connection,
          '--role',
          'worker',
          '--index',
          String(index),
          '--',
          python,
          train,
          '--distributed',
          '--out',
          distributed,
        ]),
      ),
    ];
    expect(await am.exited, am.stderr()).toBe(0);
    const codes = await Promise.all(nodes.map((node) => node.exited));
    expect(codes, nodes.map((node) => node.stderr()).join('\n')).toEqual([0, 0, 0]);

    const expected = JSON.parse(readFileSync(single, 'utf8'));
    const actual = JSON.parse(readFileSync(distributed, 'utf8'));
    expect(actual.world).toBe(2);
    const largest = Math.max(
      ...actual.predictions.map((value, i) => Math.abs(value - expected.predictions[i])),
    );
    expect(largest).toBeLessThanOrEqual(predictionTolerance);
  }, 240_000);

  it('the shared-memory ring was built at install from the C sources the tarball carries (no prebuilt binary in it)', () => {
    const shm = join(project, 'node_modules', '@millrace', 'bridge-shm');
    expect(existsSync(join(shm, 'binding.gyp'))).toBe(true);
    expect(existsSync(join(shm, 'src', 'native', 'ring-addon.cc'))).toBe(true);
    const tarball = readdirSync(join(project, 'tarballs')).find((name) =>
      name.startsWith('millrace-bridge-shm-'),
    );
    const listed = spawnSync('tar', ['-tzf', join(project, 'tarballs', tarball)], { encoding: 'utf8' });
    expect(listed.stdout.split('\n').filter((entry) => entry.includes('/build/'))).toEqual([]);
    for (const built of ['millrace_ring.node', 'millrace_ring_python.node'])
      expect(existsSync(join(shm, 'build', 'Release', built)), built).toBe(true);
  });

  it('every tarball carries its LICENSE', () => {
    const tarballs = readdirSync(join(project, 'tarballs')).filter((name) => name.endsWith('.tgz'));
    const withoutLicense = tarballs.filter((tarball) => {
      const listed = spawnSync('tar', ['-tzf', join(project, 'tarballs', tarball)], { encoding: 'utf8' });
      return !listed.stdout.split('\n').includes('package/LICENSE');
    });
    expect(tarballs.length).toBeGreaterThan(10);
    expect(withoutLicense).toEqual([]);
  });

  it('npx millrace --help and --version work in the installed project', () => {
    const help = spawnSync('npx', ['--no-install', 'millrace', '--help'], { cwd: project, encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/Usage: millrace/);
    const { version } = JSON.parse(
      readFileSync(join(project, 'node_modules', '@millrace', 'cli', 'package.json'), 'utf8'),
    );
    const printed = spawnSync('npx', ['--no-install', 'millrace', '--version'], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(printed.stdout).toBe(`${version}\n`);
  }, 60_000);

  // docs/writing-a-runner.md, followed literally: its files, written out, run with its command.
  it.each(['process', 'python', 'in-process'])(
    "runs the runner guide's job with its %s runner",
    (kind) => {
      const guide = readFileSync(join(repositoryRoot, 'docs', 'writing-a-runner.md'), 'utf8');
      const files = [...guide.matchAll(/```(?:js|python)\n((?:\/\/|#) (\S+\.(?:mjs|py))\n[\s\S]*?)```/g)];
      expect(files.map((match) => match[2]).sort()).toEqual([
        'double.mjs',
        'double.py',
        'doubling-runner.mjs',
        'job.mjs',
      ]);
      for (const [, text, name] of files) writeFileSync(join(project, name), text);
      const run = spawnSync('npx', ['millrace', 'run', 'job.mjs', kind], {
        cwd: project,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(`${run.stdout}${run.stderr}`).toContain(`${kind}: 1000 records doubled, sum 1001000`);
    },
    150_000,
  );

  it('refuses an installed package that is not an engine, by name', async () => {
    const am = millrace(project, ['am', '--engine', 'zod', '--roles', 'worker=1']);
    expect(await am.exited).toBe(1);
    expect(am.stderr()).toMatch(/package 'zod' is not a Millrace engine/);
  });
});
