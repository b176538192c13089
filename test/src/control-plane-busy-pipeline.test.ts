/**
 * A pipeline that computes without pause does not starve the control plane (issue 12, finding 7).
 * The AM of an embedded job runs on a thread of its own (runtime's am-thread.ts), so while a stage
 * holds the job's thread for 10 s the AM keeps answering: a reader in another process gets job
 * statuses all through the block. The node agents stay on the job's thread with their runners;
 * the AM sees that thread stalled and does not count their silence as death. The cluster goes on
 * as if nothing happened: no node failed, no restart, every number summed once.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterObservation } from '@millrace/core';
import { Job } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, streamProcessRunner } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const summingRunner = fileURLToPath(
  new URL('../../examples/stream-to-cluster/src/summing-runner.mjs', import.meta.url),
);
const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Another process that reads the job's status every 100 ms through the join URL the AM publishes
 * in `directory`, printing when each answer came, until the job ended.
 */
const statusReader = `
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationManagerConnection, parseJoinUrl } from '@millrace/runtime';
const file = process.argv[1] + '/join-url';
while (!existsSync(file)) await sleep(50);
const connection = new ApplicationManagerConnection(parseJoinUrl(readFileSync(file, 'utf8').trim()));
for (;;) {
  const status = await connection.getJobStatus().catch(() => undefined);
  if (status === undefined || status.outcome) break;
  console.log(JSON.stringify({ at: Date.now(), state: status.state }));
  await sleep(100);
}
connection.close();
`;

describe('control plane under a busy pipeline', () => {
  it('a stage that computes for 10 s without pause causes no failure detection', async () => {
    const count = 200_000;
    const joinDirectory = mkdtempSync(join(tmpdir(), 'millrace-busy-pipeline-'));
    const reader = execa(process.execPath, ['--input-type=module', '-e', statusReader, joinDirectory], {
      cwd: repositoryRoot,
      reject: false,
      timeout: 110_000,
    });
    const job = new Job({ name: 'busy-pipeline', batchSize: 256 });
    addAMRole(
      job,
      // No restarts allowed: a false failure detection fails the job outright.
      { name: 'busy', engine: 'generic', roles: { summer: { instances: 2 } }, maxRestarts: 0 },
      // The shared directory is where the AM publishes its join URL for the reader.
      { engine: createGenericEngine({ roles: ['summer'] }), hosts: { sharedDirectory: joinDirectory } },
    );
    const observations: ClusterObservation[] = [];
    let runnersStarted = 0;
    job.onEvent((event) => {
      if (event.type !== 'cluster-observation') return;
      observations.push(event.observation);
      if (event.observation.type === 'node-started') runnersStarted += 1;
    });
    let blockedMs = 0;
    let blockedAt = 0;
    let blockStartedAt = 0;
    const numbers = job
      .generate((i) => i + 1, { count, name: 'numbers' })
      .map(
        (n) => {
          // Once both runners run and their agents heartbeat, hold the event loop for 10 s, once.
          if (runnersStarted >= 2 && blockedAt === 0) {
            blockedAt = n;
            blockStartedAt = Date.now();
            while (Date.now() - blockStartedAt < 10_000) {
              // computing, without a single await
            }
            blockedMs = Date.now() - blockStartedAt;
          }
          return n;
        },
        { name: 'busy-stage', parallelism: 1 },
      );
    const results = addRole<number, { node: string; sum: number; count: number }>(job, 'summer', {
      instances: 2,
      input: numbers,
      runner: streamProcessRunner({ command: process.execPath, args: [summingRunner], output: 'ignore' }),
      replay: true,
    }).collect();
    const outcome = await job
      .execute()
      .finally(() => rmSync(joinDirectory, { recursive: true, force: true })); // a failed job rejects, naming its failure
    expect(blockedMs).toBeGreaterThanOrEqual(10_000);
    // The AM answered all through the block: on the job's thread it could not have answered once.
    const answers = (await reader).stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { at: number; state: string });
    const duringBlock = answers.filter(
      ({ at }) => at > blockStartedAt + 1_000 && at < blockStartedAt + blockedMs - 1_000,
    );
    expect(duringBlock.length).toBeGreaterThanOrEqual(10);
    expect(duringBlock.every(({ state }) => state === 'running')).toBe(true);
    expect(blockedAt).toBeLessThan(count); // the block fell while records still flowed
    expect(outcome.status).toBe('finished');
    expect(outcome.attempts).toBe(1);
    const failures = observations.filter(
      (observation) => observation.type === 'node-failed' || observation.type === 'generation-started',
    );
    expect(failures).toEqual([]);
    const parts = [...new Map(results.records.map((part) => [part.node, part])).values()];
    expect(parts.reduce((sum, part) => sum + part.count, 0)).toBe(count);
    expect(parts.reduce((sum, part) => sum + part.sum, 0)).toBe((count * (count + 1)) / 2);
    expect(childProcessesOf()).toEqual([]);
  }, 120_000);
});
