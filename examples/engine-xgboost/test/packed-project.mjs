/**
 * A fresh npm project outside the Millrace repository with Millrace installed from `npm pack`
 * tarballs (no workspace links), as a user or an engine author gets it from the registry.
 * Third-party dependencies come from the registry through npm's cache (`--prefer-offline`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repositoryRoot = join(import.meta.dirname, '..', '..', '..');

/** The repository's publishable packages (workspaces that are not private), as directories. */
export function publishablePackages() {
  const { workspaces } = JSON.parse(readFileSync(join(repositoryRoot, 'package.json'), 'utf8'));
  const directories = workspaces.flatMap((pattern) =>
    pattern.endsWith('/*')
      ? readdirSync(join(repositoryRoot, pattern.slice(0, -2)), { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => `${pattern.slice(0, -2)}/${entry.name}`)
      : [pattern],
  );
  return directories.filter((directory) => {
    try {
      return !JSON.parse(readFileSync(join(repositoryRoot, directory, 'package.json'), 'utf8')).private;
    } catch {
      return false;
    }
  });
}

function npm(args, cwd) {
  return execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
}

/**
 * Packs every publishable package (and `extraPackages`, directories outside the workspaces) and
 * installs the tarballs into a new project in the system temp directory; returns its path.
 */
export function packedProject({ extraPackages = [] } = {}) {
  const project = mkdtempSync(join(tmpdir(), 'millrace-packed-'));
  const tarballs = join(project, 'tarballs');
  mkdirSync(tarballs);
  const workspaces = publishablePackages();
  const packed = JSON.parse(
    npm(
      ['pack', '--json', '--pack-destination', tarballs, ...workspaces.map((w) => `--workspace=${w}`)],
      repositoryRoot,
    ),
  );
  for (const directory of extraPackages)
    packed.push(...JSON.parse(npm(['pack', '--json', '--pack-destination', tarballs], directory)));
  const dependencies = Object.fromEntries(
    packed.map((entry) => [entry.name, `file:tarballs/${entry.filename}`]),
  );
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'millrace-packed-project', private: true, type: 'module', dependencies }, null, 2),
  );
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project);
  return project;
}
