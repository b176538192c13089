/**
 * One job on two hosts that are network namespaces, with the application manager on a third
 * (`millrace am`): each host runs `millrace run --hosts 2 --host-index I --join-file F JOB`, joins
 * the AM over TLS with the join URL alone, advertises its own address, and feeds its share of the
 * records to its own worker. Every record id reaches exactly one runner; all three processes exit 0
 * and nothing is left: no process in any namespace, no ring file in /dev/shm. (This is the walkthrough in docs/multi-host.md.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createNamespaceHosts,
  expectNothingLeft,
  type NamespaceHosts,
  namespacesAvailable,
} from './namespaces-support.js';

const available = namespacesAvailable();
const job = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'src', 'test-fixtures', 'hosts-job.mjs');
let hosts: NamespaceHosts<'a' | 'b' | 'c'> | undefined;
let directory = '';

afterAll(() => {
  hosts?.remove();
  if (directory) rmSync(directory, { recursive: true, force: true });
});

describe.skipIf(!available)('millrace run --hosts 2 across network namespaces', () => {
  it('joins a millrace am on a third host; every record reaches one runner on its own host', async () => {
    hosts = createNamespaceHosts(['a', 'b', 'c'], 81);
    directory = mkdtempSync(join(tmpdir(), 'millrace-run-namespaces-'));
    const am = hosts.millrace('a', ['am', '--roles', 'worker=2', '--listen', `${hosts.addresses.a}:7070`]);
    const printed = JSON.parse(await am.firstLine()) as { join: string };
    expect(printed.join).toMatch(/^millrace:\/\/10\.81\.0\.1:7070\?token=[0-9a-f]+&ca=sha256:[0-9a-f]{64}$/);
    const joinFile = join(directory, 'join');
    writeFileSync(joinFile, `${printed.join}\n`, { mode: 0o600 });
    const count = 300;
    const runs = (['b', 'c'] as const).map((host, index) =>
      hosts!.millrace(host, [
        'run',
        '--hosts',
        '2',
        '--host-index',
        String(index),
        '--join-file',
        joinFile,
        job,
        '--',
        'succeed',
        directory,
        String(count),
      ]),
    );
    const codes = await Promise.all([am.exited, ...runs.map((run) => run.exited)]);
    expect(codes, [am, ...runs].map((p) => p.stderr() + p.stdout()).join('\n---\n')).toEqual([0, 0, 0]);
    const returned = [0, 1].map((host) =>
      readFileSync(join(directory, `host-${host}.jsonl`), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { id: number; node: string; address: string }),
    );
    const ids = returned
      .flat()
      .map((record) => record.id)
      .sort((x, y) => x - y);
    expect(ids).toEqual(Array.from({ length: count }, (_, id) => id));
    // Host b (index 0) ran worker[0] and advertised its own address; host c worker[1].
    expect(
      returned[0]!.every((r) => r.id % 2 === 0 && r.node === 'worker[0]' && r.address === hosts!.addresses.b),
    ).toBe(true);
    expect(
      returned[1]!.every((r) => r.id % 2 === 1 && r.node === 'worker[1]' && r.address === hosts!.addresses.c),
    ).toBe(true);
    expect(am.stderr()).toMatch(/job succeeded/);
    await expectNothingLeft(hosts);
  }, 200_000);
});
