import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type SourceProgress, sourceProgress } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import {
  functionReference,
  Job,
  type JobEvent,
  OperatorError,
  type OperatorMetrics,
  type Output,
} from './index.js';

const fixtures = new URL('./fixtures/functions.mjs', import.meta.url);

/** File descriptors this process has open (files, pipes, sockets). */
function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Kinds of live handles (sockets, pipes, timers, workers, file requests) that exceed `before`. */
function leakedSince(before: readonly string[]): string[] {
  const remaining = [...before];
  const leaked: string[] = [];
  for (const name of process.getActiveResourcesInfo()) {
    const at = remaining.indexOf(name);
    if (at === -1) leaked.push(name);
    else remaining.splice(at, 1);
  }
  return leaked;
}

describe('backpressure', () => {
  it('a slow sink holds a practically endless source to a bounded number of records in flight', async () => {
    const job = new Job({ batchSize: 64, channelCapacity: 2 });
    let produced = 0;
    let consumed = 0;
    let maxInFlight = 0;
    // 10^12 records of 100 bytes would be ~100 TB as an array; the job must never materialize them.
    job
      .generate(
        (i) => {
          produced += 1;
          return { id: i, payload: 'x'.repeat(88) };
        },
        { count: 1e12 },
      )
      .map((record) => record, { name: 'pass' })
      .forEach(async () => {
        consumed += 1;
        maxInFlight = Math.max(maxInFlight, produced - consumed);
        if (consumed % 64 === 0) await sleep(1);
      });
    const heapBefore = process.memoryUsage().heapUsed;
    const done = job.execute();
    while (consumed < 5_000) await sleep(10);
    job.cancel();
    const result = await done;
    expect(result.status).toBe('cancelled');
    // Per hop: channel capacity (2 batches) + one batch being processed + one being emitted;
    // two hops (source→map, map→sink) plus the source's own batch.
    const bound = 64 * (2 * (2 + 2) + 1);
    expect(maxInFlight).toBeLessThanOrEqual(bound);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    const map = result.metrics.find((m) => m.operator === 'pass')!;
    expect(map.recordsIn).toBeGreaterThanOrEqual(5_000 - 64);
  });
});

describe('cancellation', () => {
  it('stops an unbounded job through its AbortSignal and leaves no handles, timers, workers or files open', async () => {
    const before = process.getActiveResourcesInfo();
    const descriptorsBefore = openDescriptors();
    const controller = new AbortController();
    const job = new Job({ batchSize: 16 });
    const seen: number[] = [];
    const ticks = job.generate((i) => i, { ratePerSecond: 2_000 });
    ticks
      .map(functionReference<(x: number) => number>(fixtures, 'isEven') as never, {
        thread: 'worker',
        name: 'in-worker',
      })
      .forEach((x) => {
        seen.push(x as number);
      });
    async function* forever() {
      for (let i = 0; ; i++) {
        await sleep(5);
        yield i;
      }
    }
    job.fromIterable(forever).forEach(() => {});
    const done = job.execute({ signal: controller.signal });
    while (seen.length < 20) await sleep(10);
    expect(leakedSince(before).length).toBeGreaterThan(0); // the worker thread and timers are live now
    controller.abort();
    const result = await done;
    expect(result.status).toBe('cancelled');
    await sleep(50);
    expect(leakedSince(before)).toEqual([]);
    expect(openDescriptors()).toBe(descriptorsBefore);
  });

  it('cancelling while a file is being read closes the file', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'millrace-cancel-'));
    try {
      const path = join(directory, 'big.txt');
      writeFileSync(path, 'line of text\n'.repeat(200_000));
      const before = process.getActiveResourcesInfo();
      const descriptorsBefore = openDescriptors();
      const job = new Job({ batchSize: 64, channelCapacity: 1 });
      let seen = 0;
      job.fromLines(path).forEach(async () => {
        seen += 1;
        if (seen % 64 === 0) await sleep(1);
      });
      const done = job.execute();
      while (seen < 500) await sleep(5);
      const openWhileRunning = openDescriptors();
      job.cancel();
      await expect(done).resolves.toMatchObject({ status: 'cancelled' });
      expect(seen).toBeLessThan(200_000);
      expect(openWhileRunning).toBeGreaterThan(descriptorsBefore); // the file was open
      await sleep(20);
      expect(leakedSince(before)).toEqual([]);
      expect(openDescriptors()).toBe(descriptorsBefore);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('cancel() before any record is read ends the job at once', async () => {
    const job = new Job();
    job.generate((i) => i).collect();
    job.cancel('not needed');
    await expect(job.execute()).resolves.toMatchObject({ status: 'cancelled' });
  });
});

describe('failures', () => {
  it('a generator function that throws names the index', async () => {
    const job = new Job();
    job
      .generate(
        (i) => {
          if (i === 5) throw new Error('no five');
          return i;
        },
        { count: 10, name: 'numbers' },
      )
      .collect();
    await expect(job.execute()).rejects.toThrow(
      /Operator 'numbers' \(subtask 1\/1\) failed on record "index 5": no five/,
    );
  });

  it('an operator that throws fails the job, naming operator, subtask and a shortened record', async () => {
    const job = new Job({ parallelism: 2 });
    job
      .generate((i) => ({ id: i, text: 'y'.repeat(500) }), { count: 100 })
      .map(
        (record) => {
          if (record.id === 42) throw new Error('bad record');
          return record;
        },
        { name: 'validate' },
      )
      .collect();
    const events: JobEvent[] = [];
    job.onEvent((event) => events.push(event));
    const error = await job.execute().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OperatorError);
    const failure = error as OperatorError;
    expect(failure.operator).toBe('validate');
    expect(failure.subtask).toBe(0); // 42 is even: generator subtask 0, forwarded to map subtask 0
    expect(failure.message).toMatch(
      /^Operator 'validate' \(subtask 1\/2\) failed on record \{"id":42,"text":"yyy/,
    );
    expect(failure.message).toContain('…: bad record');
    expect(failure.message.length).toBeLessThan(250);
    expect((failure.cause as Error).message).toBe('bad record');
    expect(events.at(-1)).toMatchObject({ type: 'job-finished', status: 'failed' });
  });

  it('restarts the whole job after a failure, bounded by maxRestarts', async () => {
    let attempts = 0;
    const job = new Job({ restart: { maxRestarts: 2, delayMs: 1 } });
    const out = job
      .fromIterable(() => [1, 2, 3])
      .map((x) => {
        if (x === 1) attempts += 1;
        if (x === 3 && attempts < 3) throw new Error(`flaky in attempt ${attempts}`);
        return x;
      })
      .collect();
    const restarts: number[] = [];
    job.onEvent((event) => {
      if (event.type === 'job-restarting') restarts.push(event.attempt);
    });
    const result = await job.execute();
    expect(result).toMatchObject({ status: 'finished', attempts: 3 });
    expect(restarts).toEqual([2, 3]);
    expect(out.records).toEqual([1, 2, 3]);
  });

  it('fails once restarts are exhausted, with the last error', async () => {
    const job = new Job({ restart: { maxRestarts: 1, delayMs: 1 } });
    job
      .fromIterable([1])
      .map(() => {
        throw new Error('always');
      })
      .collect();
    await expect(job.execute()).rejects.toThrow(/failed on record 1: always/);
  });

  it('refuses a restart strategy over a one-shot iterator, before running anything', async () => {
    const job = new Job({ restart: { maxRestarts: 1 } });
    job
      .fromIterable(
        (function* () {
          yield 1;
        })(),
        { name: 'once' },
      )
      .collect();
    await expect(job.execute()).rejects.toThrow(/once: cannot be replayed on restart/);
  });
});

describe('metrics and events', () => {
  it('publishes per-operator metrics while the job runs, including backpressured time', async () => {
    const job = new Job({ batchSize: 8, channelCapacity: 1, metricsIntervalMs: 20 });
    job
      .generate((i) => i, { count: 400, name: 'numbers' })
      .map((x) => x + 1, { name: 'plus-one' })
      .forEach(async () => sleep(0.2), { name: 'slow-sink' });
    const snapshots: JobEvent[] = [];
    job.onEvent((event) => {
      if (event.type === 'operator-metrics') snapshots.push(event);
    });
    const result = await job.execute();
    expect(snapshots.length).toBeGreaterThanOrEqual(2);
    const final = result.metrics;
    expect(final.map((m) => m.operator)).toEqual(['numbers', 'plus-one', 'slow-sink']);
    expect(final[1]).toMatchObject({ recordsIn: 400, recordsOut: 400 });
    expect(final[2]!.recordsIn).toBe(400);
    expect(final[0]!.backpressuredMs).toBeGreaterThan(0);
    const midway = snapshots[0] as Extract<JobEvent, { type: 'operator-metrics' }>;
    expect(midway.operators[2]!.recordsIn).toBeLessThan(400);
  });

  it("shows each subtask's input queue (batches queued of its capacity) and the levels operators report as gauges", async () => {
    const job = new Job({ batchSize: 8, channelCapacity: 2, metricsIntervalMs: 20 });
    let held = 0;
    job
      .generate((i) => i, { count: 400, name: 'numbers' })
      .transform<number>(
        () => {
          let output: Output<number> | undefined;
          return {
            open(context) {
              output = context.output;
              context.gauge('heldRecords', () => held);
              context.gauge('closed', () => {
                throw new Error('read after close');
              });
            },
            processBatch(batch) {
              held += batch.length;
              output!.emitAll(batch);
            },
          };
        },
        { name: 'holder' },
      )
      .forEach(async () => sleep(0.2), { name: 'slow-sink' });
    const snapshots: Extract<JobEvent, { type: 'operator-metrics' }>[] = [];
    job.onEvent((event) => {
      if (event.type === 'operator-metrics') snapshots.push(event);
    });
    const result = await job.execute();
    const subtaskOf = (metrics: readonly OperatorMetrics[], name: string) =>
      metrics.find((m) => m.operator === name)!.subtasks[0]!;
    // A source has no input queue; every other subtask's queue holds at most its capacity.
    expect(subtaskOf(result.metrics, 'numbers').inputQueueCapacity).toBeUndefined();
    for (const snapshot of snapshots) {
      const sink = subtaskOf(snapshot.operators, 'slow-sink');
      expect(sink.inputQueueCapacity).toBe(2);
      expect(sink.inputQueuedBatches).toBeGreaterThanOrEqual(0);
      expect(sink.inputQueuedBatches).toBeLessThanOrEqual(2);
    }
    // The slow sink is the bottleneck: its queue was seen full while the job ran.
    expect(
      snapshots.some((snapshot) => subtaskOf(snapshot.operators, 'slow-sink').inputQueuedBatches === 2),
    ).toBe(true);
    // Gauges are read when the snapshot is taken; one whose reader throws is left out.
    expect(subtaskOf(result.metrics, 'holder').gauges).toEqual({ heldRecords: 400 });
  });

  it('bounded sources say how many records they will emit, so the job knows its progress', async () => {
    const job = new Job({ batchSize: 8, channelCapacity: 1, metricsIntervalMs: 20 });
    job
      .generate((i) => i, { count: 401, name: 'numbers', parallelism: 2 })
      .union(job.fromIterable([1, 2, 3], { name: 'three' }))
      .forEach(async () => sleep(0.1), { name: 'slow-sink' });
    job.generate((i) => i, { count: 5, name: 'five' }).forEach(() => {});
    const progress: (SourceProgress | undefined)[] = [];
    job.onEvent((event) => {
      if (event.type === 'operator-metrics') progress.push(sourceProgress(event.operators));
    });
    const result = await job.execute();
    expect(result.metrics.find((m) => m.operator === 'numbers')!.extra.expectedRecords).toBe(401);
    expect(result.metrics.find((m) => m.operator === 'three')!.extra.expectedRecords).toBe(3);
    expect(sourceProgress(result.metrics)).toEqual({ done: 409, total: 409 });
    // While it ran, progress was partial and only grew.
    const dones = progress.map((p) => p?.done ?? 0);
    expect(dones[0]).toBeLessThan(409);
    expect(dones.every((done, k) => k === 0 || done >= dones[k - 1]!)).toBe(true);
  });

  it('an iterable that is not an array has no known total', async () => {
    const job = new Job();
    job.fromIterable(() => new Set([1, 2]).values(), { name: 'set' }).forEach(() => {});
    const result = await job.execute();
    expect(sourceProgress(result.metrics)).toBeUndefined();
  });

  it('forwards operator events to listeners', async () => {
    const job = new Job();
    job.fromIterable([1]).transform<number>(() => ({
      open(context) {
        context.publish({ loaded: 'model' });
      },
      processBatch() {},
    }));
    const events: JobEvent[] = [];
    job.onEvent((event) => events.push(event));
    await job.execute();
    expect(events).toContainEqual({
      type: 'operator-event',
      operator: 'transform',
      subtask: 0,
      payload: { loaded: 'model' },
    });
  });
});

describe('worker threads', () => {
  it('runs a referenced function on worker threads, batch by batch, keeping order per subtask', async () => {
    const job = new Job({ batchSize: 50 });
    const out = job
      .fromIterable(Array.from({ length: 1_000 }, (_, i) => ({ value: i })))
      .map(
        functionReference<(r: { value: number }) => { value: number; thread: number }>(fixtures, 'square'),
        {
          thread: 'worker',
          parallelism: 2,
        },
      )
      .collect();
    await job.execute();
    expect(out.records).toHaveLength(1_000);
    expect(new Set(out.records.map((r) => r.value))).toEqual(
      new Set(Array.from({ length: 1_000 }, (_, i) => i * i)),
    );
    // Two subtasks, two threads, each with its own module instance.
    expect(new Set(out.records.map((r) => r.thread)).size).toBe(2);
  });

  it('mapBatches and filter on a worker thread', async () => {
    const job = new Job({ batchSize: 10 });
    const out = job
      .fromIterable(Array.from({ length: 30 }, (_, i) => i))
      .mapBatches(functionReference(fixtures, 'doubleBatch'), { thread: 'worker' })
      .filter(functionReference(fixtures, 'isEven'), { thread: 'worker' })
      .collect();
    await job.execute();
    expect(out.records).toEqual(Array.from({ length: 30 }, (_, i) => i * 2));
  });

  it('reports a worker-thread failure with operator, subtask and record', async () => {
    const job = new Job();
    job
      .fromIterable(Array.from({ length: 10 }, (_, i) => ({ value: i })))
      .map(functionReference(fixtures, 'failOnSeven'), { thread: 'worker', name: 'checked' })
      .collect();
    await expect(job.execute()).rejects.toThrow(
      /Operator 'checked' \(subtask 1\/1\) failed on record \{"value":7\}: seven is not allowed \(in worker thread/,
    );
  });

  it('refuses a closure for a worker thread and explains why', () => {
    const job = new Job();
    expect(() => job.fromIterable([1]).map((x) => x, { thread: 'worker' })).toThrow(
      /closures cannot cross threads/,
    );
  });

  it('names a missing export', async () => {
    const job = new Job();
    job.fromIterable([1]).map(functionReference(fixtures, 'nope'), { thread: 'worker' }).collect();
    await expect(job.execute()).rejects.toThrow(/has no function export 'nope'/);
  });
});
