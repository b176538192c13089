import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job } from '@millrace/dataflow';
import { type GatedVersion, publishModelVersion } from '@millrace/runner-kit';
import { afterAll, describe, expect, it } from 'vitest';
import { predictWithOnnx } from './onnx-prediction-operator.js';

// sigmoid(x . [1, -2, 0.5, 3] + 0.25) and the same with a fifth feature; see fixtures/make-logistic-onnx.py
const logisticModel = fileURLToPath(new URL('../../fixtures/logistic.onnx', import.meta.url));
const wideModel = fileURLToPath(new URL('../../fixtures/logistic-5-features.onnx', import.meta.url));

const directory = mkdtempSync(join(tmpdir(), 'millrace-onnx-follow-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

type Weights = { w: [number, number, number, number]; b: number };

/**
 * A real ONNX model with other weights: the fixture's initializers are stored as raw float32
 * bytes, so replacing those bytes gives the same graph with `weights`.
 */
function writeLogistic(path: string, weights: Weights): string {
  const bytes = readFileSync(logisticModel);
  const find = (values: number[]) => {
    const at = bytes.indexOf(Buffer.from(new Float32Array(values).buffer));
    if (at < 0) throw new Error(`the fixture no longer holds ${values.join(', ')} as raw float32`);
    return at;
  };
  const weightsAt = find([1, -2, 0.5, 3]);
  const biasAt = find([0.25]);
  Buffer.from(new Float32Array(weights.w).buffer).copy(bytes, weightsAt);
  Buffer.from(new Float32Array([weights.b]).buffer).copy(bytes, biasAt);
  writeFileSync(path, bytes);
  return path;
}

const probability = ({ w, b }: Weights, x: number[]) =>
  1 / (1 + Math.exp(-(w[0] * x[0]! + w[1] * x[1]! + w[2] * x[2]! + w[3] * x[3]! + b)));

interface Row {
  id: number;
  x: number[];
}
interface Scored {
  id: number;
  probability: number;
  version: number | undefined;
}
const rowOf = (id: number): Row => ({ id, x: [Math.sin(id), Math.cos(id / 3), (id % 7) / 7 - 0.5, 0.3] });

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
      const { version } = await publishModelVersion(checkpoints, { ...phase, format: 'onnx' });
      published.push(version);
      const deadline = Date.now() + 60_000;
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

describe('predictWithOnnx following published versions', () => {
  it('swaps versions between batches: each record scored once, in order, by a published version; corrupt and incompatible versions are refused', async () => {
    const checkpoints = join(directory, 'follow');
    const weights = new Map<number, Weights>([
      [1, { w: [1, -2, 0.5, 3], b: 0.25 }],
      [2, { w: [-1, 1, 2, -0.5], b: -0.1 }],
      [5, { w: [0.2, 0.4, -3, 1], b: 0.7 }],
    ]);
    mkdirSync(checkpoints, { recursive: true });
    const path = (name: string) => join(checkpoints, name);
    await publishModelVersion(checkpoints, {
      path: writeLogistic(path('v1.onnx'), weights.get(1)!),
      format: 'onnx',
      step: 10,
    });
    writeLogistic(path('v2.onnx'), weights.get(2)!);
    writeFileSync(path('v3.onnx'), readFileSync(logisticModel).subarray(0, 120)); // cut short
    copyFileSync(wideModel, path('v4.onnx'));
    writeLogistic(path('v5.onnx'), weights.get(5)!);

    const events: { type: string; version: number; reason?: string }[] = [];
    const warnings: string[] = [];
    const job = new Job({ name: 'onnx-follow-test', batchSize: 20, lingerMs: 5 });
    job.onEvent((event) => {
      if (event.type === 'operator-event') events.push(event.payload as (typeof events)[number]);
    });
    const source = streamWithVersions(
      job,
      checkpoints,
      [
        { path: path('v2.onnx'), step: 20 },
        { path: path('v3.onnx'), step: 30 },
        { path: path('v4.onnx'), step: 40 },
        { path: path('v5.onnx'), step: 50 },
      ],
      (version) => events.some((event) => event.version === version),
    );
    const scored = source.stream
      .transform(
        predictWithOnnx<Row, Scored>({
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
          features: (row) => row.x,
          result: (row, [p], version) => ({ id: row.id, probability: p!, version: version?.version }),
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
    // Each record's score is what the version it names computes (onnxruntime, not a stand-in).
    for (const record of scored.records) {
      expect(record.probability).toBeCloseTo(
        probability(weights.get(record.version!)!, rowOf(record.id).x),
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
    expect(warnings.join('\n')).toMatch(/Model version 3 .*refused \(unreadable\)/);
    expect(warnings.join('\n')).toMatch(/version 4 .*rows are \[5\] in .* serving model's are \[4\] in/);
    const lastOfTwo = versions.lastIndexOf(2);
    expect(versions.slice(lastOfTwo + 1).every((version) => version === 5)).toBe(true);
  });

  it('the gate sees each version’s held-out loss on the starting model and versions; a rejected version never serves', async () => {
    const checkpoints = join(directory, 'gate');
    const good: Weights = { w: [1, -2, 0.5, 3], b: 0.25 };
    const heldOutRows = Array.from({ length: 200 }, (_, id) => rowOf(10_000 + id).x);
    const heldOut = {
      features: Float32Array.from(heldOutRows.flat()),
      labels: Float32Array.from(heldOutRows.map((x) => (probability(good, x) > 0.5 ? 1 : 0))),
      count: heldOutRows.length,
    };
    const starting = writeLogistic(join(directory, 'gate-start.onnx'), { w: [0, 0, 0, 0], b: 0 });
    writeLogistic(join(directory, 'gate-bad.onnx'), { w: [-1, 2, -0.5, -3], b: -0.25 });
    writeLogistic(join(directory, 'gate-good.onnx'), good);
    const seen: [GatedVersion, GatedVersion | undefined][] = [];
    const events: { type: string; version: number }[] = [];
    const job = new Job({ name: 'onnx-gate-test', batchSize: 20, lingerMs: 5 });
    job.onEvent((event) => {
      if (event.type === 'operator-event') events.push(event.payload as (typeof events)[number]);
    });
    const source = streamWithVersions(
      job,
      checkpoints,
      [
        { path: join(directory, 'gate-bad.onnx'), step: 1 },
        { path: join(directory, 'gate-good.onnx'), step: 2 },
      ],
      (version) => events.some((event) => event.version === version),
    );
    const scored = source.stream
      .transform(
        predictWithOnnx<Row, Scored>({
          model: starting,
          follow: {
            directory: checkpoints,
            pollMs: 20,
            gate: {
              heldOut,
              accept: (candidate, serving) => {
                seen.push([candidate, serving]);
                return serving === undefined || candidate.heldOutLoss < serving.heldOutLoss;
              },
            },
          },
          features: (row) => row.x,
          result: (row, [p], version) => ({ id: row.id, probability: p!, version: version?.version }),
        }),
        { name: 'predict', parallelism: 1 },
      )
      .collect();
    expect((await job.execute()).status).toBe('finished');
    expect(scored.records).toHaveLength(source.count());
    // The starting model (no version) serves first, the bad version 1 never, the good version 2 last.
    const versions = scored.records.map((record) => record.version ?? 0);
    expect(new Set(versions)).toEqual(new Set([0, 2]));
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(seen.map(([candidate, serving]) => [candidate.version?.version, serving?.version])).toEqual([
      [1, undefined],
      [2, undefined],
    ]);
    // The bad version's loss is above the all-0.5 starting model's (ln 2), the good one's below.
    expect(seen[0]![1]!.heldOutLoss).toBeCloseTo(Math.log(2), 5);
    expect(seen[0]![0].heldOutLoss).toBeGreaterThan(Math.log(2));
    expect(seen[1]![0].heldOutLoss).toBeLessThan(Math.log(2));
    expect(events).toContainEqual(expect.objectContaining({ type: 'model-version-refused', version: 1 }));
  });
});
