import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { DependencyMissingError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { loadNativeRing, loadNativeRingFrom } from './native-binding.js';

describe('native ring loader', () => {
  it('loads the built addon', () => {
    expect(loadNativeRing().formatVersion).toBe(1);
  });

  it('says how to build when the addon is missing', () => {
    const empty = mkdtempSync(`${tmpdir()}/millrace-no-addon-`);
    try {
      const error = (() => {
        try {
          loadNativeRingFrom(empty);
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(DependencyMissingError);
      expect((error as Error).message).toMatch(/npm rebuild @millrace\/bridge-shm/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
