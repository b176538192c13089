/**
 * A TF.js prediction cluster inside a job (issue 17, "Prediction by a cluster"): 2 parameter
 * servers hold halves of a saved model's embedding table, 2 stream-mode workers score numbered
 * records and their scores flow downstream. Mid-stream, parameter server 1 is killed with
 * SIGKILL: the engine (workload 'prediction': restart-one) restarts it from the checkpoint, the
 * workers wait and retry — at its old address, or at a new one the later cluster spec gives them
 * when the old port was taken meanwhile — and every record id comes out exactly once.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterObservation, ClusterSpec } from '@millrace/core';
import { Job } from '@millrace/dataflow';
import { createTensorflowEngine, tensorflowPredictor } from '@millrace/plugin-tensorflow';
import { addAMRole, addRole } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { idsOf, saveEmbeddingModel } from './fixtures/tensorflow-embedding-model.mjs';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

interface Scored {
  id: number;
  prediction: number[];
  version: number | null;
}

/** The pid of this process's prediction process for `role[index]`, read from its environment. */
function predictionProcess(role: string, index: number): number | undefined {
  const marker = `MILLRACE_TF_NODE={"role":"${role}","index":${index},`;
  return childProcessesOf().find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  });
}

/**
 * Holds `port` on loopback once the process that had it is gone (SIGKILL takes effect a moment
 * after the call), so the restarted parameter server cannot get it back.
 */
async function occupyPort(port: number): Promise<Server> {
  for (;;) {
    const server = createServer((socket) => socket.destroy());
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) return server;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const psPort = (spec: ClusterSpec, index: number) => spec.roles.ps![index]!.ports.grpc!;

describe('TF.js prediction cluster in a job (real TF.js, real processes)', () => {
  it.each([
    { portTaken: false, address: 'at its old address' },
    { portTaken: true, address: 'at a new address (its port was taken)' },
  ])(
    'kill -9 of a parameter server mid-stream: the engine restarts it $address, every record is scored exactly once',
    async ({ portTaken }) => {
      const rows = 200_000;
      const count = 4_000;
      const directory = mkdtempSync(join(tmpdir(), 'millrace-tf-predict-'));
      directories.push(directory);
      const model = join(directory, 'model');
      await saveEmbeddingModel(model, rows);

      const job = new Job({ name: 'tf-predict', batchSize: 64 });
      addAMRole(
        job,
        {
          name: 'scorer',
          engine: 'tensorflow',
          roles: { worker: { instances: 2 }, ps: { instances: 2 } },
          checkpointDirectory: join(directory, 'checkpoints'),
          maxRestarts: 2,
          restartBackoff: { initialMs: 10, maxMs: 100 },
        },
        { engine: createTensorflowEngine({ mode: 'stream', workload: 'prediction' }) },
      );
      const predictor = tensorflowPredictor({ checkpoint: model, batchSize: 64, backend: 'cpu' });
      addRole(job, 'ps', { instances: 2, runner: predictor });
      const records = job.generate((id) => ({ id, features: idsOf(id, rows) }), {
        count,
        ratePerSecond: 1_000,
      });
      let killed: number | undefined;
      let seen = 0;
      let occupied: Promise<Server> | undefined;
      const scores = addRole<{ id: number; features: number[] }, Scored>(job, 'worker', {
        instances: 2,
        input: records,
        runner: predictor,
      })
        .map((scored) => {
          seen += 1;
          if (killed === undefined && seen >= 1_000) {
            killed = predictionProcess('ps', 1);
            if (killed) process.kill(killed, 'SIGKILL');
            if (killed && portTaken) occupied = occupyPort(psPort(firstSpec!, 1));
          }
          return scored;
        })
        .collect();

      const observations: ClusterObservation[] = [];
      let firstSpec: ClusterSpec | undefined;
      job.onEvent((event) => {
        if (event.type !== 'cluster-observation') return;
        observations.push(event.observation);
        if (event.observation.type === 'cluster-ready') firstSpec ??= event.observation.spec;
      });

      // A bound below the test's own, so a stuck job shows what the cluster went through.
      let bound: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        job.execute(),
        new Promise<never>((_, reject) => {
          bound = setTimeout(
            () =>
              reject(
                new Error(
                  `the job did not end in 75 s; ${seen} scores came out; cluster: ${observations
                    .filter((observation) => observation.type !== 'node-metrics')
                    .map((observation) => JSON.stringify(observation).slice(0, 300))
                    .join('\n')}`,
                ),
              ),
            75_000,
          );
        }),
      ]).finally(() => clearTimeout(bound));
      expect(outcome.status).toBe('finished');
      expect(killed).toBeGreaterThan(0);
      // Only the killed ps failed and only it restarted: the workers waited for it.
      const failures = observations.flatMap((observation) =>
        observation.type === 'node-failed' ? [observation.failure] : [],
      );
      expect(failures).toMatchObject([{ role: 'ps', index: 1, signal: 'SIGKILL' }]);
      const restarts = observations.filter((observation) => observation.type === 'generation-started');
      expect(restarts).toMatchObject([{ policy: 'restart-one' }]);
      // The restarted ps has its old port back, or a new one that the workers learnt from the spec.
      const specs = observations.flatMap((observation) =>
        observation.type === 'cluster-ready' ? [observation.spec] : [],
      );
      expect(specs).toHaveLength(2);
      if (portTaken) expect(psPort(specs[1]!, 1)).not.toBe(psPort(specs[0]!, 1));
      else expect(psPort(specs[1]!, 1)).toBe(psPort(specs[0]!, 1));
      await occupied?.then((server) => new Promise((resolve) => server.close(resolve)));
      const times = new Map<number, number>();
      for (const scored of scores.records) times.set(scored.id, (times.get(scored.id) ?? 0) + 1);
      expect(times.size).toBe(count);
      expect([...times.values()].every((value) => value === 1)).toBe(true);
      expect(scores.records.every((scored) => scored.prediction[0]! > 0 && scored.prediction[0]! < 1)).toBe(
        true,
      );
      expect(childProcessesOf()).toEqual([]);
    },
    90_000,
  );

  it('an id outside the table fails the job at once, naming EmbeddingIdError (no restarts)', async () => {
    const rows = 1_000;
    const directory = mkdtempSync(join(tmpdir(), 'millrace-tf-predict-'));
    directories.push(directory);
    const model = join(directory, 'model');
    await saveEmbeddingModel(model, rows);
    const job = new Job({ name: 'tf-predict-bad-id', batchSize: 64 });
    addAMRole(
      job,
      {
        name: 'scorer',
        engine: 'tensorflow',
        roles: { worker: { instances: 1 }, ps: { instances: 1 } },
        checkpointDirectory: join(directory, 'checkpoints'),
        maxRestarts: 3,
        restartBackoff: { initialMs: 10, maxMs: 100 },
      },
      { engine: createTensorflowEngine({ mode: 'stream', workload: 'prediction' }) },
    );
    const predictor = tensorflowPredictor({ checkpoint: model, batchSize: 64, backend: 'cpu' });
    addRole(job, 'ps', { instances: 1, runner: predictor });
    const records = job.generate((id) => ({ id, features: id === 500 ? [1, 2, rows, 3] : idsOf(id, rows) }), {
      count: 1_000,
    });
    addRole(job, 'worker', { instances: 1, input: records, runner: predictor }).collect();
    const started = Date.now();
    const error = await job.execute().then(
      () => undefined,
      (failure: Error) => failure,
    );
    expect(error?.message).toMatch(/EmbeddingIdError: input record 501 has id 1000 for Embedding layer/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(childProcessesOf()).toEqual([]);
  }, 60_000);
});
