import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelVersionRejectedError } from '@millrace/core';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFollower } from './model-follower.js';
import {
  latestModelVersion,
  modelVersionNumbers,
  modelVersionsDirectory,
  publishModelVersion,
} from './model-versions.js';

const directory = { path: mkdtempSync(join(tmpdir(), 'millrace-versions-')) };
afterAll(() => rmSync(directory.path, { recursive: true, force: true }));

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('model versions', () => {
  it('racing publishers get distinct, gapless numbers and no temporary file is left', async () => {
    const checkpoints = join(directory.path, 'race');
    const published = await Promise.all(
      Array.from({ length: 20 }, (_, step) =>
        publishModelVersion(checkpoints, { path: `/models/${step}`, step }),
      ),
    );
    expect(published.map((version) => version.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, index) => index + 1),
    );
    expect(await modelVersionNumbers(checkpoints)).toHaveLength(20);
    expect(
      (await readdir(modelVersionsDirectory(checkpoints))).filter((name) => name.endsWith('.tmp')),
    ).toEqual([]);
    const latest = await latestModelVersion(checkpoints);
    expect(latest?.version).toBe(20);
    expect(latest?.format).toBe('tfjs-layers-model');
  });

  it('an empty checkpoint directory has no version; a malformed manifest is named', async () => {
    const checkpoints = join(directory.path, 'malformed');
    expect(await latestModelVersion(checkpoints)).toBeUndefined();
    await mkdir(modelVersionsDirectory(checkpoints), { recursive: true });
    await writeFile(join(modelVersionsDirectory(checkpoints), '000000001.json'), '{"version": "one"}');
    await expect(latestModelVersion(checkpoints)).rejects.toThrow(
      /000000001\.json is not a model version manifest/,
    );
  });
});

describe('ModelFollower', () => {
  it('with everyVersions 2 serves the first version, then one in two; an unreadable one is refused', async () => {
    const checkpoints = join(directory.path, 'every');
    const refused: ModelVersionRejectedError[] = [];
    const follower = new ModelFollower<string>({
      directory: checkpoints,
      policy: { everyVersions: 2 },
      pollMs: 10,
      load: async (version) => {
        if (version.path.endsWith('broken')) throw new Error('weights are truncated');
        return version.path;
      },
      dispose: () => {},
      onRefused: (error) => refused.push(error),
    });
    follower.start();
    try {
      await publishModelVersion(checkpoints, { path: '/m/1', step: 10 });
      await follower.waitForReady(5_000);
      expect(follower.take()?.version?.version).toBe(1);

      await publishModelVersion(checkpoints, { path: '/m/2', step: 20 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(follower.take()).toBeUndefined(); // version 2 is not due

      await publishModelVersion(checkpoints, { path: '/m/broken', step: 30 });
      await until(() => refused.length === 1, 'the refusal of version 3');
      expect(refused[0]).toBeInstanceOf(ModelVersionRejectedError);
      expect(refused[0]!.reason).toBe('unreadable');
      expect(refused[0]!.message).toMatch(
        /version 3 .*weights are truncated; the previous version keeps serving/,
      );
      expect(follower.take()).toBeUndefined();
      expect(follower.serving?.version?.version).toBe(1);

      await publishModelVersion(checkpoints, { path: '/m/4', step: 40 });
      await follower.waitForReady(5_000);
      expect(follower.take()?.model).toBe('/m/4');
    } finally {
      await follower.close();
    }
  });

  it('rejects a bad policy and times out naming the directory when nothing is published', async () => {
    expect(
      () =>
        new ModelFollower<string>({
          directory: directory.path,
          policy: { everyVersions: 0 },
          load: async () => '',
          dispose: () => {},
        }),
    ).toThrow(/everyVersions must be a positive integer/);
    const follower = new ModelFollower<string>({
      directory: join(directory.path, 'nothing'),
      load: async () => '',
      dispose: () => {},
    });
    follower.start();
    await expect(follower.waitForReady(200)).rejects.toThrow(/nothing.*versions/);
    await follower.close();
  });
});
