/**
 * Loads the job module a `millrace run <path>` names: a file (TypeScript through tsx, or
 * JavaScript) or a directory (its package.json `exports`/`main`, else an index file). The module
 * exports a job module (`export const job = defineJobModule(...)`), or a default export that is a
 * function `(context) => Promise<void>`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '@millrace/core';
import { defineJobModule, findJobModule, type JobModule } from '@millrace/dataflow';
import { tsImport } from 'tsx/esm/api';

const indexCandidates = [
  'index.ts',
  'index.mts',
  'index.js',
  'index.mjs',
  'src/index.ts',
  'src/main.ts',
  'main.ts',
];

function jobError(message: string): ConfigError {
  return new ConfigError([{ path: 'job', message }], { subject: 'millrace run' });
}

/** The file a path stands for: itself, or a directory's package entry. */
export function resolveJobEntry(path: string): string {
  const absolute = resolve(path);
  if (!existsSync(absolute))
    throw jobError(`'${path}' does not exist; give a job file or a directory with a package.json`);
  if (!statSync(absolute).isDirectory()) return absolute;
  const manifestPath = join(absolute, 'package.json');
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { main?: string; exports?: unknown };
    const entry = exportsEntry(manifest.exports) ?? manifest.main;
    if (entry) {
      const file = join(absolute, entry);
      if (!existsSync(file))
        throw jobError(`${manifestPath} names '${entry}' as its entry, but that file does not exist`);
      return file;
    }
  }
  const found = indexCandidates
    .map((candidate) => join(absolute, candidate))
    .find((file) => existsSync(file));
  if (!found) {
    throw jobError(
      `'${path}' is a directory without an entry: add "main" to its package.json or an index.ts`,
    );
  }
  return found;
}

function exportsEntry(exports: unknown): string | undefined {
  if (typeof exports === 'string') return exports;
  if (typeof exports !== 'object' || exports === null) return undefined;
  const root = (exports as Record<string, unknown>)['.'] ?? exports;
  if (typeof root === 'string') return root;
  if (typeof root !== 'object' || root === null) return undefined;
  const conditions = root as Record<string, unknown>;
  for (const condition of ['millrace-source', 'import', 'default']) {
    const value = conditions[condition];
    if (typeof value === 'string') return value;
  }
  return undefined;
}

export async function loadJobModule(path: string): Promise<{ module: JobModule; file: string }> {
  const file = resolveJobEntry(path);
  const namespace = (await tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>;
  try {
    return { module: findJobModule(namespace, file), file };
  } catch (error) {
    if (typeof namespace.default === 'function') {
      return { module: defineJobModule(namespace.default as Parameters<typeof defineJobModule>[0]), file };
    }
    throw error;
  }
}
