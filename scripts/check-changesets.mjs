#!/usr/bin/env node
// CI check: every publishable package changed since the last release comes with a changeset that
// names it. The base is the merge-base of HEAD with the newest release tag (`v*` or
// `@millrace/<name>@<version>`, as `changeset tag` writes them); `--base REF` overrides it. With no
// release tag (nothing published yet) there is nothing to compare against and the check passes,
// so a clean clone of main never fails it. Changes to a package's tests or README alone need no
// changeset.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

function git(args) {
  const result = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function baseRevision() {
  const given = process.argv.indexOf('--base');
  if (given >= 0) return git(['merge-base', 'HEAD', process.argv[given + 1]]);
  const tags = git(['tag', '--list', 'v*', '@millrace/*@*', '--sort=-creatordate'])
    ?.split('\n')
    .filter(Boolean);
  return tags?.length ? git(['merge-base', 'HEAD', tags[0]]) : undefined;
}

function publishablePackages() {
  const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const directories = workspaces.flatMap((pattern) =>
    pattern.endsWith('/*')
      ? readdirSync(join(root, pattern.slice(0, -2))).map((name) => `${pattern.slice(0, -2)}/${name}`)
      : [pattern],
  );
  return directories
    .filter((directory) => existsSync(join(root, directory, 'package.json')))
    .map((directory) => ({
      directory,
      manifest: JSON.parse(readFileSync(join(root, directory, 'package.json'), 'utf8')),
    }))
    .filter(({ manifest }) => !manifest.private)
    .map(({ directory, manifest }) => ({ directory, name: manifest.name }));
}

/** Files that ship or change behaviour: not tests, test fixtures or READMEs. */
function isShippedChange(path) {
  return !/(\.test\.[cm]?[jt]s$|\/test-fixtures\/|\/tests?\/|README\.md$|CHANGELOG\.md$)/.test(path);
}

function packagesNamedIn(changesetFile) {
  const text = readFileSync(join(root, changesetFile), 'utf8');
  const front = /^---\n([\s\S]*?)\n---/.exec(text)?.[1] ?? '';
  return [...front.matchAll(/^\s*["']?([^"':\s]+)["']?\s*:/gm)].map((match) => match[1]);
}

const base = baseRevision();
if (!base) {
  console.log('changesets: no release tag to compare against (nothing published yet); skipping');
  process.exit(0);
}
const changed =
  git(['diff', '--name-only', `${base}...HEAD`])
    ?.split('\n')
    .filter(Boolean) ?? [];
const covered = new Set(
  changed
    .filter((path) => /^\.changeset\/.+\.md$/.test(path) && !path.endsWith('README.md'))
    .filter((path) => existsSync(join(root, path)))
    .flatMap(packagesNamedIn),
);
const missing = publishablePackages().filter(
  ({ directory, name }) =>
    !covered.has(name) && changed.some((path) => path.startsWith(`${directory}/`) && isShippedChange(path)),
);
if (missing.length > 0) {
  console.error(
    `changesets: changed since ${base.slice(0, 12)} without a changeset: ${missing.map((p) => p.name).join(', ')}\n` +
      '  add one: npx changeset (and commit the .changeset/*.md file it writes)',
  );
  process.exit(1);
}
console.log(`changesets: every package changed since ${base.slice(0, 12)} has a changeset`);
