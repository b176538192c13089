import { afterEach, describe, expect, it } from 'vitest';
import { clicksTrainer as trainer, trainingCluster, waitUntil } from './fixtures/local-nodes.js';
import { latestCheckpoint } from './model-io.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A cluster of hand-started nodes on the clicks trainer, stopped and removed after each test. */
function cluster(layout: Record<string, number>, training: 'async' | 'sync', runner = trainer()) {
  return trainingCluster(layout, training, runner, (cleanup) => cleanups.push(cleanup));
}

describe('parameter-server training failover', () => {
  it('async: a killed worker restarts alone, pulls the current variables and training goes on', async () => {
    const { start, nodes } = await cluster({ worker: 2, ps: 1 }, 'async', trainer({ batchesPerWorker: 300 }));
    const ps = await start('ps', 0);
    const survivor = await start('worker', 0);
    const victim = await start('worker', 1);
    await waitUntil(
      () => victim.metrics.some((m) => (m.step ?? 0) > 20),
      20_000,
      'worker 1 to make progress',
    );
    const pid = victim.metrics.find((m) => m.pid)!.pid!;
    process.kill(pid, 'SIGKILL');
    const killed = await victim.handle.result;
    expect(killed).toMatchObject({ status: 'failed', signal: 'SIGKILL' });
    const stepAtKill = Math.max(
      ...ps.metrics.map((m) => m.step ?? 0),
      ...survivor.metrics.map((m) => m.step ?? 0),
    );
    // Only worker 1 restarts (what the engine's restart-one policy does); it resumes from the
    // parameter server's current step, not from zero.
    const restarted = await start('worker', 1, 1);
    await waitUntil(
      () => restarted.metrics.some((m) => m.step !== undefined),
      20_000,
      'the restarted worker',
    );
    expect(restarted.metrics[0]!.step).toBeGreaterThanOrEqual(stepAtKill);
    const results = await Promise.all([survivor.handle.result, restarted.handle.result]);
    expect(results.map((result) => result.status)).toEqual(['succeeded', 'succeeded']);
    expect(nodes.filter((node) => node.role === 'ps')).toHaveLength(1);
  });

  it('a killed parameter server restarts from the last checkpoint', async () => {
    const { start, directory } = await cluster(
      { worker: 1, ps: 1 },
      'async',
      trainer({ batchesPerWorker: 2000 }),
    );
    const ps = await start('ps', 0);
    const worker = await start('worker', 0);
    await waitUntil(() => existsCheckpoint(directory), 20_000, 'a first checkpoint');
    process.kill(ps.metrics.find((m) => m.pid)!.pid!, 'SIGKILL');
    expect(await ps.handle.result).toMatchObject({ status: 'failed', signal: 'SIGKILL' });
    // The worker loses its parameter server and fails: the engine's restart-all.
    expect((await worker.handle.result).status).toBe('failed');
    const checkpoint = (await latestCheckpoint(directory))!;
    const ps2 = await start('ps', 0, 1);
    await waitUntil(() => ps2.metrics.some((m) => m.restored_step !== undefined), 20_000, 'the restarted ps');
    expect(ps2.metrics.find((m) => m.restored_step !== undefined)!.restored_step).toBeGreaterThanOrEqual(
      checkpoint.step,
    );
    expect(ps2.metrics.find((m) => m.restored_step !== undefined)!.restored_step).toBeGreaterThan(0);
    const worker2 = await start('worker', 0, 1);
    await waitUntil(() => worker2.metrics.some((m) => m.step !== undefined), 20_000, 'the restarted worker');
    expect(worker2.metrics[0]!.step).toBeGreaterThanOrEqual(checkpoint.step);
    await worker2.handle.stop('enough');
  });
});

let checkpointSeen = false;
function existsCheckpoint(directory: string): boolean {
  if (checkpointSeen) return true;
  void latestCheckpoint(directory).then((pointer) => {
    checkpointSeen ||= pointer !== undefined;
  });
  return checkpointSeen;
}
