import { describe, expect, it } from 'vitest';
import { type DataStream, Job, type OperatorFactory } from './index.js';

interface Event {
  key: string;
  seq: number;
}

/** Tags each record with the subtask that processed it. */
function tagSubtask<T>(): OperatorFactory<T, { record: T; subtask: number }> {
  return ({ subtaskIndex }) => {
    let emit: (value: { record: T; subtask: number }) => void;
    return {
      open(context) {
        emit = (value) => context.output.emit(value);
      },
      processBatch(batch) {
        for (const record of batch) emit({ record, subtask: subtaskIndex });
      },
    };
  };
}

function events(job: Job, count: number, parallelism: number): DataStream<Event> {
  return job.generate<Event>((i) => ({ key: `k${i % 13}`, seq: i }), { count, parallelism });
}

describe('partitioning and ordering', () => {
  it('hash: every record of a key reaches one subtask, in emission order per upstream subtask', async () => {
    const job = new Job({ batchSize: 16 });
    const out = events(job, 2_000, 2)
      .keyBy((e) => e.key)
      .transform(tagSubtask<Event>(), { parallelism: 3 })
      .collect();
    await job.execute();
    expect(out.records).toHaveLength(2_000);
    const owner = new Map<string, number>();
    const lastSeq = new Map<string, number>();
    for (const { record, subtask } of out.records) {
      expect(owner.get(record.key) ?? subtask).toBe(subtask);
      owner.set(record.key, subtask);
      // Generator subtask s makes indices s, s+2, …: order is promised per key and origin.
      const stream = `${record.key}/${record.seq % 2}`;
      expect(record.seq).toBeGreaterThan(lastSeq.get(stream) ?? -1);
      lastSeq.set(stream, record.seq);
    }
    expect(new Set(owner.values()).size).toBeGreaterThan(1);
  });

  it('forward: subtask i feeds subtask i and order is kept per subtask', async () => {
    const job = new Job({ batchSize: 8, parallelism: 2 });
    const out = events(job, 400, 2)
      .map((e) => e)
      .transform(tagSubtask<Event>())
      .collect();
    await job.execute();
    const last = [-1, -1];
    for (const { record, subtask } of out.records) {
      expect(record.seq % 2).toBe(subtask);
      expect(record.seq).toBeGreaterThan(last[subtask]!);
      last[subtask] = record.seq;
    }
    expect(out.records).toHaveLength(400);
  });

  it('rebalance: spreads batches over every subtask and loses nothing', async () => {
    const job = new Job({ batchSize: 10 });
    const out = job
      .fromIterable(Array.from({ length: 1_000 }, (_, i) => i))
      .rebalance()
      .transform(tagSubtask<number>(), { parallelism: 3 })
      .collect();
    await job.execute();
    expect(out.records.map((r) => r.record).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 1_000 }, (_, i) => i),
    );
    expect(new Set(out.records.map((r) => r.subtask))).toEqual(new Set([0, 1, 2]));
    // Between one upstream and one downstream subtask the order holds.
    for (const subtask of [0, 1, 2]) {
      const seen = out.records.filter((r) => r.subtask === subtask).map((r) => r.record);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }
  });

  it('broadcast: every subtask gets every record', async () => {
    const job = new Job();
    const out = job
      .fromIterable([1, 2, 3])
      .broadcast()
      .transform(tagSubtask<number>(), { parallelism: 2 })
      .collect();
    await job.execute();
    expect(out.records).toHaveLength(6);
  });

  it('forward between different parallelisms is refused with advice', async () => {
    const job = new Job();
    job
      .fromIterable([1])
      .forward()
      .map((x) => x, { parallelism: 2 })
      .collect();
    await expect(job.execute()).rejects.toThrow(/forward partitioning needs equal parallelism.*rebalance/);
  });

  it('union merges streams; connect processes two typed inputs with shared state', async () => {
    const job = new Job();
    const numbers = job.fromIterable([1, 2, 3]);
    const more = job.fromIterable([10, 20]);
    const merged = numbers.union(more).collect();
    const words = job.fromIterable(['a', 'bb']);
    const joined = numbers
      .connect(words)
      .process<string>(() => {
        let sum = 0;
        let letters = 0;
        return {
          processLeft(n) {
            sum += n;
          },
          processRight(word) {
            letters += word.length;
          },
          onEnd(output) {
            output.emit(`sum=${sum} letters=${letters}`);
          },
        };
      })
      .collect();
    await job.execute();
    expect([...merged.records].sort((a, b) => a - b)).toEqual([1, 2, 3, 10, 20]);
    expect(joined.records).toEqual(['sum=6 letters=3']);
  });

  it('keyed operators reject object keys at parallelism 1 too (they would break when scaled out)', async () => {
    const job = new Job();
    job
      .fromIterable([{ user: { id: 1 } }])
      .keyBy((r) => r.user as never)
      .process({ processElement() {} }, { name: 'per-user' })
      .collect();
    await expect(job.execute()).rejects.toThrow(
      /Operator 'per-user' .*keys must be a string, number, bigint or boolean/s,
    );
  });

  it('rejects keys that are not primitive values, naming the operator', async () => {
    const job = new Job();
    job
      .fromIterable([{ user: { id: 1 } }])
      .keyBy((r) => r.user as never)
      .map((r) => r, { parallelism: 2, name: 'after-key' })
      .collect();
    await expect(job.execute()).rejects.toThrow(/keys must be a string, number, bigint or boolean/);
  });
});
