/**
 * PyTorch DDP (gloo) across two network namespaces: `millrace pytorch run --hosts 2 --host-index I
 * --shared-dir D` in each (torchrun's --nnodes 2 --node-rank I), one rank per host, gives the same
 * trained weights as the same script with two ranks on one host. Gradients cross the veth between
 * the namespaces; the ranks find each other through the cluster spec (MASTER_ADDR is host 0's
 * address inside its namespace).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createNamespaceHosts,
  expectNothingLeft,
  millraceBin,
  type NamespaceHosts,
  namespacesAvailable,
} from './namespaces-support.js';
import { hasTorch, torchPython } from './pytorch-support.js';

const available = namespacesAvailable();
const scripts = fileURLToPath(new URL('./fixtures/pytorch/', import.meta.url));
const runArgs = ['--max-restarts', '0', '--python', torchPython, '--', 'ddp_weights.py'];
let hosts: NamespaceHosts<'zero' | 'one'> | undefined;
let shared = '';

afterEach(() => {
  hosts?.remove();
  hosts = undefined;
  if (shared) rmSync(shared, { recursive: true, force: true });
});

function weightsIn(stdout: string): { world: number; weights: number[] } {
  const line = stdout.split('\n').find((text) => text.includes('weights {'));
  if (!line) throw new Error(`no weights line in:\n${stdout}`);
  return JSON.parse(line.slice(line.indexOf('{')));
}

function onOneHost(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [millraceBin, 'pytorch', 'run', '--workers', '2', ...runArgs], {
      cwd: scripts,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

describe.skipIf(!available || !hasTorch)('PyTorch DDP across two network namespaces', () => {
  it('trains to the same weights as two ranks on one host', async () => {
    const alone = await onOneHost();
    expect(alone.code, alone.stderr).toBe(0);
    const expected = weightsIn(alone.stdout);
    expect(expected.world).toBe(2);

    hosts = createNamespaceHosts(['zero', 'one'], 80);
    shared = mkdtempSync(join(tmpdir(), 'millrace-ddp-hosts-'));
    const ranks = (['zero', 'one'] as const).map((host, index) =>
      hosts!.millrace(
        host,
        [
          'pytorch',
          'run',
          '--hosts',
          '2',
          '--host-index',
          String(index),
          '--shared-dir',
          shared,
          '--workers',
          '1',
          ...runArgs,
        ],
        { cwd: scripts, boundMs: 150_000 },
      ),
    );
    const codes = await Promise.all(ranks.map((rank) => rank.exited));
    expect(codes, ranks.map((rank) => rank.stderr()).join('\n---\n')).toEqual([0, 0]);
    const across = weightsIn(ranks[0]!.stdout());
    expect(across.world).toBe(2);
    across.weights.forEach((weight, i) => {
      expect(weight).toBeCloseTo(expected.weights[i]!, 5);
    });
    await expectNothingLeft(hosts);
  }, 320_000);
});
