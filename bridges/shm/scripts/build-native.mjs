#!/usr/bin/env node
// Builds the ring's native code (build/Release/millrace_ring.node for Node and
// millrace_ring_python.node for Python) with node-gyp, when it is missing or older than its
// sources. It runs at `npm install` of this package (`--install`) and in the repository's build.
//
// Node's headers come from npm_config_nodedir when set, else from the running Node's own
// installation (Debian's /usr, an official tarball, nvm): node-gyp never downloads them, since
// machines without internet access are common where Millrace runs.
//
// With --install a failed build does not fail the installation: the package's loaders name what
// is missing and how to build it when a ring is first used (Python also compiles its half on the
// spot when a C compiler is there). Without --install, a failed build fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const installing = process.argv.includes('--install');
const outputs = ['millrace_ring.node', 'millrace_ring_python.node'].map((name) =>
  join(packageRoot, 'build', 'Release', name),
);
const sources = [
  join(packageRoot, 'binding.gyp'),
  ...readdirSync(join(packageRoot, 'src', 'native')).map((name) => join(packageRoot, 'src', 'native', name)),
];

function upToDate() {
  if (!outputs.every((output) => existsSync(output))) return false;
  const built = Math.min(...outputs.map((output) => statSync(output).mtimeMs));
  return sources.every((source) => statSync(source).mtimeMs <= built);
}

/** node-gyp's entry: this package's dev dependency, else the copy npm runs install scripts with. */
function nodeGyp() {
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp))
      return process.env.npm_config_node_gyp;
    const bundled = join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    );
    return existsSync(bundled) ? bundled : undefined;
  }
}

/** Where Node's headers are without a download: npm_config_nodedir, else this Node's own prefix. */
function nodeDirectory() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

function give(reason) {
  const how =
    'needs a C/C++ compiler, make and python3; Node headers from npm_config_nodedir or beside the node binary';
  if (installing) {
    console.warn(
      `@millrace/bridge-shm: the shared-memory ring was not built (${reason}); ${how}.\n` +
        `  The ring transport stays unavailable until it is: run \`npm rebuild @millrace/bridge-shm\` once that is fixed.`,
    );
    process.exit(0);
  }
  console.error(`@millrace/bridge-shm: cannot build the ring: ${reason} (${how})`);
  process.exit(1);
}

if (upToDate()) process.exit(0);
const gyp = nodeGyp();
if (!gyp) give('node-gyp was not found');
const nodedir = nodeDirectory();
if (!nodedir) give(`no Node headers beside ${process.execPath} and npm_config_nodedir is not set`);
const result = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], {
  cwd: packageRoot,
  stdio: 'inherit',
});
if (result.status !== 0) give(`node-gyp rebuild exited with ${result.status ?? result.signal}`);
