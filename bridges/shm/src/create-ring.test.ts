import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { createRing, sweepStaleRingDirectories } from './create-ring.js';
import { packageRoot } from './native-binding.js';

describe('createRing', () => {
  it('names every bad option', async () => {
    const error = await createRing({ capacityBytes: 5000, codec: 'no spaces please' }).catch(
      (caught) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/capacityBytes: must be a power of two/);
    expect(error.message).toMatch(/codec: must be 1 to 15 characters/);
  });

  it('puts rings in a job directory under the directory it is given', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'millrace-create-'));
    try {
      const ring = await createRing({ capacityBytes: 4096, directory: parent });
      expect(ring.jobDirectory.startsWith(join(parent, `millrace-${process.pid}-`))).toBe(true);
      expect(existsSync(ring.path)).toBe(true);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('removes its job directory when the creating process exits', () => {
    const parent = mkdtempSync(join(tmpdir(), 'millrace-exit-'));
    try {
      const script = `
        const { createRing } = await import(${JSON.stringify(join(packageRoot, 'dist', 'index.js'))});
        const ring = await createRing({ capacityBytes: 4096, directory: ${JSON.stringify(parent)} });
        console.log(ring.path);`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      expect(child.status, child.stderr).toBe(0);
      const path = child.stdout.trim();
      expect(path).toMatch(/ring-1-.*\.shm$/);
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('sweeps job directories left behind by a creator that was killed', () => {
    const parent = mkdtempSync(join(tmpdir(), 'millrace-sweep-'));
    try {
      // A pid that cannot exist on Linux (pid_max is at most 2^22).
      const stale = join(parent, 'millrace-99999999-abcdef');
      const live = join(parent, `millrace-${process.pid}-abcdef`);
      mkdirSync(stale);
      mkdirSync(live);
      expect(sweepStaleRingDirectories(parent)).toEqual([stale]);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
