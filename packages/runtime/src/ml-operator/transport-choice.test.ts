import type { RecordTransport } from '@millrace/core';
import { ConfigError, DependencyMissingError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { pipeTransport } from './pipe-transport.js';
import { chooseRecordTransport, loadRingTransport } from './transport-choice.js';

const ring = { name: 'shm', setup: () => pipeTransport.setup({ hasInput: false, hasOutput: false }) };
const loadsRing = async () => ring as RecordTransport;
const ringMissing = async (): Promise<RecordTransport> => {
  throw new DependencyMissingError(
    'millrace_ring.node',
    'The shared-memory ring addon is not built.\n  Build it …',
  );
};

describe('chooseRecordTransport', () => {
  it('defaults to the ring when it loads, and to pipes with one warning line when it does not', async () => {
    const warnings: string[] = [];
    const warn = (line: string) => warnings.push(line);
    expect(await chooseRecordTransport(undefined, {}, warn, loadsRing)).toBe(ring);
    expect(warnings).toEqual([]);
    expect(await chooseRecordTransport('auto', {}, warn, ringMissing)).toBe(pipeTransport);
    expect(warnings).toEqual([
      'records go over pipes, not the shared-memory ring: The shared-memory ring addon is not built.',
    ]);
  });

  it('MILLRACE_RECORDS_TRANSPORT=pipes or transport: pipes forces pipes; shm asked for must load', async () => {
    const warn = () => {};
    const forced = { MILLRACE_RECORDS_TRANSPORT: 'pipes' };
    expect(await chooseRecordTransport(undefined, forced, warn, loadsRing)).toBe(pipeTransport);
    expect(await chooseRecordTransport('pipes', {}, warn, loadsRing)).toBe(pipeTransport);
    expect(await chooseRecordTransport('shm', forced, warn, loadsRing)).toBe(ring);
    await expect(chooseRecordTransport('shm', {}, warn, ringMissing)).rejects.toThrow(/addon is not built/);
    expect(await chooseRecordTransport(ring, forced, warn, ringMissing)).toBe(ring);
  });

  it('names a bad transport choice', async () => {
    const warn = () => {};
    await expect(chooseRecordTransport('udp' as 'shm', {}, warn, loadsRing)).rejects.toThrow(ConfigError);
    await expect(
      chooseRecordTransport(undefined, { MILLRACE_RECORDS_TRANSPORT: 'udp' }, warn, loadsRing),
    ).rejects.toThrow(/MILLRACE_RECORDS_TRANSPORT: must be 'pipes' or 'shm' \(got "udp"\)/);
  });

  it('loads the ring from the declared @millrace/bridge-shm, once', async () => {
    const first = loadRingTransport();
    expect(loadRingTransport()).toBe(first);
    expect((await first).name).toBe('shm');
  });
});
