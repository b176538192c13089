#!/usr/bin/env node
// Makes a fresh clone runnable: installs npm dependencies when they are missing or stale,
// installs Debian's Python packages when we may (root with apt-get), and builds every package.
// `npm test`, `npm run flagship` and `npm run bench` all start here, so each works on a clean clone.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const env = {
  ...process.env,
  npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr',
  TURBO_TELEMETRY_DISABLED: '1',
};

function run(command, commandArgs, options = {}) {
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit', env, ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error(`bootstrap: '${command} ${commandArgs.join(' ')}' exited with ${result.status}`);
    process.exit(result.status ?? 1);
  }
}

function dependenciesAreStale() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(marker)) return true;
  return statSync(join(root, 'package-lock.json')).mtimeMs > statSync(marker).mtimeMs + 1000;
}

const debianPackages = ['python3-torch', 'python3-numpy', 'python3-msgpack'];
function pythonHasTorch() {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy, msgpack'], { stdio: 'ignore' });
  return probe.status === 0;
}

if (!args.has('--no-python') && !pythonHasTorch()) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    console.log(`bootstrap: installing ${debianPackages.join(' ')} (Debian) for the PyTorch engine`);
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', ...debianPackages], {
      env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } else {
    console.warn(
      `bootstrap: /usr/bin/python3 cannot import torch, numpy and msgpack; the PyTorch tests will be skipped.\n` +
        `  Install them with: sudo apt-get install -y ${debianPackages.join(' ')}`,
    );
  }
}

if (dependenciesAreStale()) {
  console.log('bootstrap: installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

if (!args.has('--no-build')) {
  run('npx', ['turbo', 'run', 'build', '--output-logs=errors-only']);
}
