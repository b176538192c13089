import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MillraceTimeoutError } from '@millrace/core';
import { afterAll, describe, expect, it } from 'vitest';
import { joinUrlPath, publishJoinUrl, waitForJoinUrl } from './multi-host.js';

const directory = mkdtempSync(join(tmpdir(), 'millrace-multi-host-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('the join URL in the shared directory', () => {
  it('is written whole with mode 0600 (it holds the token)', () => {
    const path = publishJoinUrl(directory, 'millrace://10.0.0.1:7070?token=abc');
    expect(path).toBe(joinUrlPath(directory));
    expect(readFileSync(path, 'utf8')).toBe('millrace://10.0.0.1:7070?token=abc\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('a waiting host skips a URL its check refuses and takes the next one', async () => {
    const shared = mkdtempSync(join(directory, 'wait-'));
    writeFileSync(joinUrlPath(shared), 'millrace://stale:1?token=old\n');
    setTimeout(() => publishJoinUrl(shared, 'millrace://fresh:2?token=new'), 300);
    const url = await waitForJoinUrl({
      source: { sharedDirectory: shared },
      timeoutMs: 20_000,
      signal: new AbortController().signal,
      accept: async (candidate) => {
        if (candidate.includes('stale')) throw new Error('no application manager answers there');
      },
      pollMs: 20,
    });
    expect(url).toBe('millrace://fresh:2?token=new');
  });

  it('fails within its bound, naming the file and why the last URL was refused', async () => {
    const shared = mkdtempSync(join(directory, 'refused-'));
    writeFileSync(joinUrlPath(shared), 'millrace://stale:1?token=old\n');
    const error = await waitForJoinUrl({
      source: { sharedDirectory: shared },
      timeoutMs: 300,
      signal: new AbortController().signal,
      accept: async () => {
        throw new Error('no application manager answers there');
      },
      pollMs: 20,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MillraceTimeoutError);
    expect((error as Error).message).toContain(`waiting for the join URL in ${joinUrlPath(shared)}`);
    expect((error as Error).message).toContain('no application manager answers there');
  });
});
