/**
 * Where `millrace_torch` (the Python helpers: process group, checkpoints, uneven partitions,
 * prediction) lives on disk: `python/` at the root of this package. Found by walking up from this
 * module, so it works from `src/` (tests) and from the bundled `dist/`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The directory to put on `PYTHONPATH` so that `import millrace_torch` works. */
export function pytorchPythonDirectory(): string {
  if (cached) return cached;
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth += 1) {
    const candidate = join(directory, 'python');
    if (existsSync(join(candidate, 'millrace_torch', '__init__.py'))) {
      cached = candidate;
      return candidate;
    }
    directory = dirname(directory);
  }
  throw new Error(
    `millrace_torch is missing from @millrace/plugin-pytorch (looked above ${import.meta.url})`,
  );
}
