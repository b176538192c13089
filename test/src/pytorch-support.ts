/**
 * Shared by the PyTorch integration tests: whether this machine's Python can import torch (the
 * tests skip, loudly, when it cannot), where the fixtures are, and a scratch directory per test.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const torchPython = process.env.MILLRACE_PYTHON ?? '/usr/bin/python3';

function probeTorch(): boolean {
  const probe = spawnSync(torchPython, ['-c', 'import torch, numpy'], { stdio: 'ignore', timeout: 60_000 });
  return probe.status === 0;
}

export const hasTorch = probeTorch();

if (!hasTorch) {
  console.error(
    `\n*** PyTorch integration tests SKIPPED: ${torchPython} cannot import torch and numpy. ` +
      'Install them with: sudo apt-get install -y python3-torch python3-numpy (CI installs them). ***\n',
  );
}

export const fixture = (name: string): string =>
  fileURLToPath(new URL(`fixtures/pytorch/${name}`, import.meta.url));

export function scratchDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `millrace-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
