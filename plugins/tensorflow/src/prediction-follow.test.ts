import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Job } from '@millrace/dataflow';
import { publishModelVersion } from '@millrace/runner-kit';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, examples, featureCount } from './fixtures/clicks-model.mjs';
import { temporaryDirectory } from './fixtures/local-nodes.js';
import { saveModelTo } from './model-io.js';
import { type GatedVersion, predictWithTensorflow } from './prediction-operator.js';

// PROD skips debug checks and the tfjs-node advert, as the library does in useBackend().
tf.env().set('PROD', true);

const directory = temporaryDirectory();
afterAll(() => directory.remove());

interface Row {
  id: number;
  features: number[];
}
interface Scored {
  id: number;
  probability: number;
  version: number | undefined;
}

const data = examples(5, 4_000);
const rowOf = (id: number): Row => ({
  id,
  features: Array.from(data.features.subarray(id * featureCount, (id + 1) * featureCount)),
});

/** Saves a fresh random model as `name` and keeps it for computing expected predictions. */
async function saveModel(checkpoints: string, name: string, model = createModel()) {
  const path = join(checkpoints, name);
  await saveModelTo(model, path);
  return { path, model };
}

function expectedProbability(model: tfl.LayersModel, features: number[]): number {
  return tf.tidy(() => (model.predict(tf.tensor2d([features])) as tf.Tensor).dataSync()[0]!);
}

/**
 * A stream that runs while versions are published: `phases[k]` is published after 100 · (k + 1)
 * records, and the stream keeps going (slowly) until the operator served or refused that version.
 */
function streamWithVersions(
  job: Job,
  checkpoints: string,
  phases: { path: string; step: number }[],
  handled: (version: number) => boolean,
) {
  let next = 0;
  const published: number[] = [];
  async function* records() {
    for (const phase of phases) {
      for (let n = 0; n < 100; n++) yield rowOf(next++);
      const { version } = await publishModelVersion(checkpoints, phase);
      published.push(version);
      const deadline = Date.now() + 30_000;
      while (!handled(version)) {
        if (Date.now() > deadline) throw new Error(`version ${version} was neither served nor refused`);
        yield rowOf(next++);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    for (let n = 0; n < 100; n++) yield rowOf(next++);
  }
  return { stream: job.fromIterable(records, { name: 'rows' }), published, count: () => next };
}

describe('predictWithTensorflow following a training cluster', () => {
  it('swaps versions between batches: each record scored once, in order, by a published version; corrupt and incompatible versions are refused', async () => {
    await tf.setBackend('cpu');
    const checkpoints = join(directory.path, 'follow');
    const first = await saveModel(checkpoints, 'ckpt-1');
    const second = await saveModel(checkpoints, 'ckpt-2');
    const corrupt = await saveModel(checkpoints, 'ckpt-3');
    await truncate(join(corrupt.path, 'weights.bin'), 100);
    const narrow = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 1 })] });
    const incompatible = await saveModel(checkpoints, 'ckpt-4', narrow);
    const third = await saveModel(checkpoints, 'ckpt-5');
    const models = new Map([
      [1, first.model],
      [2, second.model],
      [5, third.model],
    ]);
    await publishModelVersion(checkpoints, { path: first.path, step: 10 });

    const events: { type: string; version: number; reason?: string }[] = [];
    const warnings: string[] = [];
    const job = new Job({ name: 'follow-test', batchSize: 20, lingerMs: 5 });
    job.onEvent((event) => {
      if (event.type === 'operator-event') events.push(event.payload as (typeof events)[number]);
    });
    const handled = (version: number) => events.some((event) => event.version === version);
    const source = streamWithVersions(
      job,
      checkpoints,
      [
        { path: second.path, step: 20 },
        { path: corrupt.path, step: 30 },
        { path: incompatible.path, step: 40 },
        { path: third.path, step: 50 },
      ],
      handled,
    );
    const scored = source.stream
      .transform(
        predictWithTensorflow<Row, Scored>({
          follow: {
            directory: checkpoints,
            pollMs: 20,
            logger: {
              debug: () => {},
              info: () => {},
              warn: (message) => warnings.push(message),
              error: (message) => warnings.push(message),
            },
          },
          backend: 'cpu',
          features: (row) => row.features,
          result: (row, [probability], version) => ({
            id: row.id,
            probability: probability!,
            version: version?.version,
          }),
        }),
        { name: 'predict', parallelism: 1 },
      )
      .collect();
    const result = await job.execute();
    expect(result.status).toBe('finished');

    // Every record exactly once, in the order it came.
    expect(scored.records.map((record) => record.id)).toEqual(
      Array.from({ length: source.count() }, (_, id) => id),
    );
    // Versions only grow, and only published, accepted versions scored anything.
    const versions = scored.records.map((record) => record.version!);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions)).toEqual(new Set([1, 2, 5]));
    expect(source.published).toEqual([2, 3, 4, 5]);
    // Each record's score is what the version it names predicts.
    for (const record of scored.records) {
      expect(record.probability).toBeCloseTo(
        expectedProbability(models.get(record.version!)!, rowOf(record.id).features),
        5,
      );
    }
    // The refusals show in events, metrics and logs; the previous version kept serving.
    expect(events.filter((event) => event.type === 'model-version-refused')).toEqual([
      expect.objectContaining({ version: 3, reason: 'unreadable' }),
      expect.objectContaining({ version: 4, reason: 'incompatible' }),
    ]);
    const predict = result.metrics.find((metrics) => metrics.operator === 'predict')!;
    expect(predict.extra.model_versions_refused).toBe(2);
    expect(predict.extra.model_swaps).toBe(3);
    expect(warnings.join('\n')).toMatch(/version 3 .*truncated/);
    expect(warnings.join('\n')).toMatch(/version 4 .*takes 4 values per row/);
    const lastOfTwo = versions.lastIndexOf(2);
    expect(versions.slice(lastOfTwo + 1).every((version) => version === 5)).toBe(true);
  });

  it('a gate sees each version’s held-out loss; a rejected version never serves', async () => {
    await tf.setBackend('cpu');
    const checkpoints = join(directory.path, 'gate');
    const saved = [];
    for (let k = 1; k <= 3; k++) saved.push(await saveModel(checkpoints, `ckpt-${k}`));
    await publishModelVersion(checkpoints, { path: saved[0]!.path, step: 1 });
    const heldOut = examples(99, 500);
    const seen: [GatedVersion, GatedVersion | undefined][] = [];
    const events: { type: string; version: number }[] = [];
    const job = new Job({ name: 'gate-test', batchSize: 20, lingerMs: 5 });
    job.onEvent((event) => {
      if (event.type === 'operator-event') events.push(event.payload as (typeof events)[number]);
    });
    const source = streamWithVersions(
      job,
      checkpoints,
      [
        { path: saved[1]!.path, step: 2 },
        { path: saved[2]!.path, step: 3 },
      ],
      (version) => events.some((event) => event.version === version),
    );
    const scored = source.stream
      .transform(
        predictWithTensorflow<Row, Scored>({
          follow: {
            directory: checkpoints,
            pollMs: 20,
            gate: {
              heldOut,
              accept: (candidate, serving) => {
                seen.push([candidate, serving]);
                return candidate.version!.version !== 2;
              },
            },
            logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
          },
          backend: 'cpu',
          features: (row) => row.features,
          result: (row, [probability], version) => ({
            id: row.id,
            probability: probability!,
            version: version?.version,
          }),
        }),
        { name: 'predict' },
      )
      .collect();
    expect((await job.execute()).status).toBe('finished');
    expect(new Set(scored.records.map((record) => record.version))).toEqual(new Set([1, 3]));
    expect(scored.records).toHaveLength(source.count());
    expect(seen.map(([candidate]) => candidate.version!.version)).toEqual([1, 2, 3]);
    expect(seen[0]![1]).toBeUndefined();
    for (const [candidate, serving] of seen.slice(1)) {
      expect(Number.isFinite(candidate.heldOutLoss)).toBe(true);
      expect(serving?.version?.version).toBe(1); // version 2 was rejected, so 1 still served when 3 came
    }
  });

  it('picks up a version published while a busy pipeline never waits (regression: timers and file reads starved)', async () => {
    await tf.setBackend('cpu');
    const checkpoints = join(directory.path, 'busy');
    const first = await saveModel(checkpoints, 'ckpt-1');
    const second = await saveModel(checkpoints, 'ckpt-2');
    await publishModelVersion(checkpoints, { path: first.path, step: 1 });
    let servedSecond = false;
    const job = new Job({ name: 'busy-test', batchSize: 256 });
    job.onEvent((event) => {
      const payload =
        event.type === 'operator-event' ? (event.payload as { type: string; version: number }) : undefined;
      if (payload?.type === 'model-version-served' && payload.version === 2) servedSecond = true;
    });
    const cap = 400_000;
    // A synchronous source: the pipeline runs on promise callbacks alone until the end.
    function* rows() {
      let id = 0;
      while (!servedSecond && id < cap) yield rowOf(id++ % 4_000);
      for (let n = 0; n < 1_000; n++) yield rowOf(id++ % 4_000);
    }
    let published = false;
    const scored = job
      .fromIterable(rows, { name: 'rows' })
      .transform(
        predictWithTensorflow<Row, number | undefined>({
          follow: { directory: checkpoints, pollMs: 20 },
          backend: 'cpu',
          features: (row) => row.features,
          result: (_row, _prediction, version) => {
            if (!published) {
              published = true;
              void publishModelVersion(checkpoints, { path: second.path, step: 2 });
            }
            return version?.version;
          },
        }),
        { name: 'predict' },
      )
      .collect();
    expect((await job.execute()).status).toBe('finished');
    expect(scored.records.length).toBeLessThan(cap);
    expect(scored.records.at(-1)).toBe(2);
  }, 60_000);

  it('needs a model directory or a directory to follow', () => {
    expect(() => predictWithTensorflow<Row>({ features: (row) => row.features })).toThrow(
      /needs options.modelDirectory, options.follow or both/,
    );
  });
});
