// An engine can be loaded on its own (`@millrace/plugin-pytorch/engine`,
// `@millrace/plugin-tensorflow/engine`): a scheduler or CLI that only needs the engine object must
// not load the dataflow runtime, gRPC or Pyodide with it. Each import runs in a fresh Node process
// (the built packages, as users load them) under a loader hook that logs every module it loads.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'millrace-engine-subpath-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const hooks = join(scratch, 'log-loads.mjs');
writeFileSync(
  hooks,
  [
    "import { appendFileSync } from 'node:fs';",
    'export async function load(url, context, nextLoad) {',
    '  appendFileSync(process.env.MILLRACE_LOAD_LOG, url + String.fromCharCode(10));',
    '  return nextLoad(url, context);',
    '}',
  ].join('\n'),
);

/** The URLs of every module `import(specifier)` loads in a fresh process, and what it exported. */
function modulesLoadedBy(specifier: string): { urls: string[]; exported: string[] } {
  const log = join(scratch, `${specifier.replace(/\W+/g, '-')}.log`);
  writeFileSync(log, '');
  const run = spawnSync(
    process.execPath,
    [
      '--no-warnings',
      '--loader',
      hooks,
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`,
    ],
    { cwd: root, encoding: 'utf8', env: { ...process.env, MILLRACE_LOAD_LOG: log }, timeout: 120_000 },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return {
    urls: readFileSync(log, 'utf8').split('\n').filter(Boolean),
    exported: JSON.parse(run.stdout.trim().split('\n').at(-1)!),
  };
}

const heavy = [
  /@millrace\/dataflow|packages\/dataflow\//,
  /@grpc\//,
  /pyodide/,
  /@millrace\/runtime|packages\/runtime\//,
];

describe('engines from a subpath export', () => {
  it('@millrace/plugin-pytorch/engine loads the engine without dataflow, gRPC or Pyodide', () => {
    const { urls, exported } = modulesLoadedBy('@millrace/plugin-pytorch/engine');
    expect(exported).toEqual(expect.arrayContaining(['pytorch', 'createPytorchEngine']));
    expect(urls.some((url) => url.includes('plugins/pytorch/dist/engine.js'))).toBe(true);
    for (const pattern of heavy) expect(urls.filter((url) => pattern.test(url))).toEqual([]);
  });

  it('@millrace/plugin-tensorflow/engine loads the engine without dataflow or gRPC', () => {
    const { urls, exported } = modulesLoadedBy('@millrace/plugin-tensorflow/engine');
    expect(exported).toEqual(expect.arrayContaining(['tensorflow', 'createTensorflowEngine']));
    for (const pattern of heavy) expect(urls.filter((url) => pattern.test(url))).toEqual([]);
  });

  it('the check sees a heavy load when there is one: @millrace/runtime loads dataflow and gRPC', () => {
    const { urls } = modulesLoadedBy('@millrace/runtime');
    expect(urls.some((url) => heavy[0]!.test(url))).toBe(true);
    expect(urls.some((url) => heavy[1]!.test(url))).toBe(true);
  });
});
