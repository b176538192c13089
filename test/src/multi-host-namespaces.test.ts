/**
 * Several hosts, for real: three network namespaces (an AM host and two worker hosts) joined by
 * veth pairs to a bridge that lives in a fourth namespace, so every address exists only inside
 * the namespaces. The AM serves TLS on 10.x; the workers join with the join URL alone, advertise
 * the address of their interface that routes to the AM, and see each other's address in the spec.
 * Needs root (CI runs as root); where namespaces cannot be made, CI=true fails, elsewhere skips.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNamespaceHosts,
  expectNothingLeft,
  type NamespaceHosts,
  namespacesAvailable,
} from './namespaces-support.js';

const available = namespacesAvailable();
const names = ['am', 'one', 'two'] as const;
let created: NamespaceHosts<(typeof names)[number]>;
let directory = '';
const address = { am: '10.77.0.1', one: '10.77.0.2', two: '10.77.0.3' } as const;

describe.skipIf(!available)('one cluster across three network namespaces', () => {
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'millrace-multi-host-'));
    created = createNamespaceHosts(names, 77);
  });

  afterAll(() => {
    created?.remove();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('forms over TLS with the join URL alone; a wrong fingerprint and a plaintext client are refused; nothing is left', async () => {
    const am = created.millrace('am', ['am', '--roles', 'worker=2', '--listen', `${address.am}:0`]);
    const printed = JSON.parse(await am.firstLine()) as { address: string; token: string; join: string };
    expect(printed.address).toMatch(new RegExp(`^${address.am.replaceAll('.', '\\.')}:\\d+$`));
    expect(printed.join).toMatch(/^millrace:\/\/10\.77\.0\.1:\d+\?token=[0-9a-f]+&ca=sha256:[0-9a-f]{64}$/);

    // From worker host one: a join URL pinning another certificate is refused by name.
    const wrong = printed.join.replace(/sha256:[0-9a-f]+/, `sha256:${'0'.repeat(64)}`);
    const refused = created.millrace('one', ['status', '--join', wrong]);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr()).toMatch(/presented a certificate with fingerprint .* but the join URL pins/);
    // From worker host two: plaintext to the TLS port gets no answer.
    const plaintext = created.millrace('two', [
      'status',
      '--am',
      printed.address,
      '--token',
      printed.token,
      '--insecure',
    ]);
    expect(await plaintext.exited).toBe(1);

    writeFileSync(join(directory, 'join'), `${printed.join}\n`, { mode: 0o600 });
    // Each runner succeeds only when the spec names both worker hosts by their own addresses.
    const check = `const s = process.env.MILLRACE_CLUSTER_SPEC; process.exit(s.includes('"${address.one}"') && s.includes('"${address.two}"') ? 0 : 7)`;
    const workers = (['one', 'two'] as const).map((host, index) =>
      created.millrace(host, [
        'node',
        '--join-file',
        join(directory, 'join'),
        '--role',
        'worker',
        '--index',
        String(index),
        '--',
        process.execPath,
        '-e',
        check,
      ]),
    );
    const codes = await Promise.all(workers.map((worker) => worker.exited));
    expect(codes, workers.map((worker) => worker.stderr()).join('\n')).toEqual([0, 0]);
    expect(await am.exited).toBe(0);
    expect(am.stderr()).toMatch(/job succeeded/);
    await expectNothingLeft(created);
  }, 180_000);
});
