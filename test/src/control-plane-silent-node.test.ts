/**
 * A node agent that goes silent without exiting (SIGSTOP) is declared dead after missed
 * heartbeats; once it resumes, it learns its generation is stale and rejoins the new generation.
 * The agents here are separate processes (`millrace node`), as on another host.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { ClusterObservation } from '@millrace/core';
import { ApplicationManager, createGenericEngine } from '@millrace/runtime';
import { processesWithMarker } from '@millrace/runtime/testing';
import { afterEach, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'dist', 'bin.js');
const marker = `millrace-silent-test-${randomUUID()}`;
const agents: ChildProcess[] = [];

afterEach(() => {
  for (const agent of agents.splice(0)) {
    if (agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGCONT');
      agent.kill('SIGKILL');
    }
  }
});

function startAgent(am: ApplicationManager, index: number): ChildProcess {
  const agent = spawn(
    process.execPath,
    [
      bin,
      'node',
      '--am',
      am.address,
      '--role',
      'worker',
      '--index',
      String(index),
      '--grace',
      '1000',
      '--',
      process.execPath,
      '-e',
      'setInterval(() => {}, 1000)',
      marker,
    ],
    { stdio: 'ignore', env: { ...process.env, MILLRACE_TOKEN: am.token } },
  );
  agents.push(agent);
  return agent;
}

function waitFor(am: ApplicationManager, predicate: (o: ClusterObservation) => boolean, timeoutMs: number) {
  return new Promise<ClusterObservation>((resolve, reject) => {
    const seen = am.observations.find(predicate);
    if (seen) return resolve(seen);
    const timer = setTimeout(() => reject(new Error(`not observed within ${timeoutMs} ms`)), timeoutMs);
    const unsubscribe = am.onObservation((observation) => {
      if (!predicate(observation)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(observation);
    });
  });
}

describe('control plane: silent nodes', () => {
  it('declares a SIGSTOPped node dead after missed heartbeats, then takes it back in the new generation', async () => {
    const am = await ApplicationManager.start({
      config: {
        engine: 'generic',
        roles: { worker: { instances: 2 } },
        heartbeat: { intervalMs: 200, missedLimit: 5 },
        restartBackoff: { initialMs: 10, maxMs: 10 },
      },
      engine: createGenericEngine(),
    });
    try {
      const [, silent] = [startAgent(am, 0), startAgent(am, 1)];
      await waitFor(am, (o) => o.type === 'cluster-ready', 20_000);
      await waitFor(am, (o) => o.type === 'node-started' && o.index === 1, 20_000);

      silent!.kill('SIGSTOP');
      const dead = await waitFor(am, (o) => o.type === 'node-failed' && o.failure.index === 1, 10_000);
      expect(dead).toMatchObject({
        failure: { role: 'worker', index: 1, reason: 'heartbeat-missed', generation: 0 },
      });
      if (dead.type === 'node-failed') expect(dead.failure.message).toMatch(/limit 5 × 200 ms/);

      silent!.kill('SIGCONT');
      const ready = await waitFor(am, (o) => o.type === 'cluster-ready' && o.spec.generation >= 1, 20_000);
      expect(ready.type === 'cluster-ready' && ready.spec.roles.worker).toHaveLength(2);
      for (const node of am.status().nodes) expect(node.attempt).toBeGreaterThanOrEqual(1);

      const exits = agents.map((agent) => new Promise((resolve) => agent.on('close', resolve)));
      await am.stop('test is done');
      await Promise.all(exits);
      expect(processesWithMarker(marker)).toEqual([]);
    } finally {
      await am.close();
    }
  });
});
