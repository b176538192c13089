/**
 * Where the Python halves live on disk: the `millrace` package ships inside this npm package
 * (`python/millrace`), `millrace_shm` inside `@millrace/bridge-shm` (its `pythonModuleDirectory`).
 * The runner host puts both directories on the child's `PYTHONPATH`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonModuleDirectory } from '@millrace/bridge-shm';

let packageDirectory: string | undefined;

/** The directory that holds the `millrace` Python package (works from `src/` and from `dist/`). */
export function millracePythonDirectory(): string {
  if (packageDirectory) return packageDirectory;
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth += 1) {
    const candidate = join(directory, 'python');
    if (existsSync(join(candidate, 'millrace', '__init__.py'))) {
      packageDirectory = candidate;
      return candidate;
    }
    directory = dirname(directory);
  }
  throw new Error(
    `the millrace Python package is missing from @millrace/bridge-python (looked above ${import.meta.url})`,
  );
}

/** The directory that holds `millrace_shm` (the ring's Python side). */
export function shmPythonDirectory(): string {
  return pythonModuleDirectory;
}
