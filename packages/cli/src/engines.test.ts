import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@millrace/core';
import { afterEach, describe, expect, it } from 'vitest';
import { findEngine, importPlugin } from './engines.js';

// An engine as a third party publishes it: plain JavaScript, found by package name.
const engineSource = (name: string, exportLine: string) => `
const engine = {
  specificationVersion: 'v1',
  name: '${name}',
  roles: [{ name: 'worker', description: 'one rank', lifecycle: 'finishes', required: true }],
  isJobFinished: (view) => Object.values(view.nodes).every((node) => node.status === 'finished'),
  failurePolicy: () => 'restart-all',
  nodeEnvironment: ({ index }) => ({ TINY_RANK: String(index) }),
};
${exportLine}
`;

const projects: string[] = [];
afterEach(() => {
  for (const project of projects.splice(0)) rmSync(project, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'millrace-engines-'));
  projects.push(root);
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'a-project', type: 'module' }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function installedPackage(name: string, source: string, manifest: Record<string, unknown> = {}) {
  return {
    [`node_modules/${name}/package.json`]: JSON.stringify({
      name,
      type: 'module',
      exports: { '.': { types: './index.d.ts', import: './index.js' } },
      ...manifest,
    }),
    [`node_modules/${name}/index.js`]: source,
  };
}

describe('findEngine', () => {
  it('keeps the built-in engines built in', async () => {
    expect((await findEngine('pytorch', { directory: tmpdir() })).name).toBe('pytorch');
    expect((await findEngine('generic', { generic: { roles: ['a'] } })).roles.map((r) => r.name)).toEqual([
      'a',
    ]);
  });

  it("finds an installed package by its package name: the default export, or a named 'engine'", async () => {
    const root = project({
      ...installedPackage('millrace-engine-tiny', engineSource('tiny', 'export default engine;')),
      ...installedPackage('@someone/millrace-engine-named', engineSource('named', 'export { engine };')),
    });
    const nested = join(root, 'jobs', 'deep');
    mkdirSync(nested, { recursive: true });
    const tiny = await findEngine('millrace-engine-tiny', { directory: nested });
    expect(tiny.name).toBe('tiny');
    expect(tiny.nodeEnvironment({ index: 1 } as never)).toEqual({ TINY_RANK: '1' });
    expect((await findEngine('@someone/millrace-engine-named', { directory: root })).name).toBe('named');
  });

  it('finds engines a millrace.config.mjs lists, by engine name or by package name', async () => {
    const root = project({
      ...installedPackage('millrace-engine-tiny', engineSource('tiny', 'export default engine;')),
      'millrace.config.mjs': `${engineSource('inline', '')}\nexport default { engines: [engine, 'millrace-engine-tiny'] };`,
    });
    expect((await findEngine('inline', { directory: root })).name).toBe('inline');
    expect((await findEngine('tiny', { directory: root })).name).toBe('tiny');
  });

  it('finds engines a TypeScript millrace.config.ts lists', async () => {
    const root = project({
      'millrace.config.ts': `${engineSource('typed', '')}\nexport default { engines: [engine] as unknown[] };`,
    });
    expect((await findEngine('typed', { directory: root })).name).toBe('typed');
  });

  it('names what it searched when nothing matches', async () => {
    const root = project({});
    const error = await findEngine('millrace-engine-missing', { directory: root }).catch((caught) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain(
      "unknown engine 'millrace-engine-missing': not built in (generic, tensorflow, pytorch)",
    );
    expect(error.message).toContain('npm install millrace-engine-missing');
  });

  it('refuses a package that is not an engine, and a broken engine, by name', async () => {
    const root = project({
      ...installedPackage('left-pad-ish', 'export default function pad() {}'),
      ...installedPackage(
        'millrace-engine-future',
        engineSource('future', "export default { ...engine, specificationVersion: 'v9' };"),
      ),
      ...installedPackage(
        'millrace-engine-roleless',
        engineSource('roleless', 'export default { ...engine, roles: [] };'),
      ),
    });
    await expect(findEngine('left-pad-ish', { directory: root })).rejects.toThrow(
      /package 'left-pad-ish' is not a Millrace engine: neither its default export nor a named 'engine' export is an MLFramework/,
    );
    await expect(findEngine('millrace-engine-future', { directory: root })).rejects.toThrow(
      /MLFramework 'future' specificationVersion/,
    );
    await expect(findEngine('millrace-engine-roleless', { directory: root })).rejects.toThrow(
      /exports a broken MLFramework: .*an engine needs at least one role/s,
    );
  });

  it('says which config entry is wrong', async () => {
    const root = project({ 'millrace.config.mjs': 'export default { engines: [{ name: "half" }] };' });
    await expect(findEngine('half', { directory: root })).rejects.toThrow(
      /engines\.0: is not an MLFramework/,
    );
  });
});

describe('an engine plugin that is not installed', () => {
  it('is named with the command that installs it; other import failures pass through', async () => {
    const missing = '@millrace/plugin-not-installed-here';
    const error = await importPlugin(missing, () => import(missing)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`npm install ${missing}`);
    const broken = new Error('the plugin threw while loading');
    await expect(importPlugin(missing, () => Promise.reject(broken))).rejects.toBe(broken);
  });
});
