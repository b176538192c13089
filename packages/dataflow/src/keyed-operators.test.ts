import { describe, expect, it } from 'vitest';
import { Job } from './index.js';

interface Click {
  user: string;
  time: number;
}

describe('keyed process function', () => {
  it('keeps state per key across batches and emits final state at the end', async () => {
    const job = new Job({ batchSize: 4 });
    const running = job
      .fromIterable(['a', 'b', 'a', 'c', 'a', 'b', 'a', 'c', 'c', 'c'])
      .keyBy((word) => word)
      .process<number, string>(
        {
          processElement(_word, context) {
            const count = (context.state.get() ?? 0) + 1;
            context.state.set(count);
            if (count === 2) context.emit(`${context.key} seen twice`);
          },
          onEnd(context) {
            for (const [key, count] of context.entries()) context.emit(`${key}=${count}`);
          },
        },
        { parallelism: 2 },
      )
      .collect();
    await job.execute();
    const records = [...running.records].sort();
    expect(records).toEqual(['a seen twice', 'a=4', 'b seen twice', 'b=2', 'c seen twice', 'c=4']);
  });

  it('clear() forgets the key', async () => {
    const job = new Job();
    const out = job
      .fromIterable([1, 1, 1, 1, 1])
      .keyBy(() => 'k')
      .process<number, number>({
        processElement(n, context) {
          const sum = (context.state.get() ?? 0) + n;
          if (sum === 2) {
            context.emit(sum);
            context.state.clear();
          } else context.state.set(sum);
        },
      })
      .collect();
    await job.execute();
    expect(out.records).toEqual([2, 2]);
  });
});

describe('tumbling windows', () => {
  const counter = {
    create: () => 0,
    add: (count: number) => count + 1,
    result: (count: number, window: { key: string; start: number; end: number }) =>
      `${window.key}[${window.start},${window.end})=${count}`,
  };

  it('counts per key and window, firing windows in end-time order as time passes', async () => {
    const job = new Job({ batchSize: 2 });
    const clicks: Click[] = [
      { user: 'u1', time: 0 },
      { user: 'u2', time: 3 },
      { user: 'u1', time: 9 },
      { user: 'u1', time: 10 },
      { user: 'u2', time: 15 },
      { user: 'u1', time: 25 },
    ];
    const out = job
      .fromIterable(clicks)
      .keyBy((c) => c.user)
      .tumblingWindow({ sizeMs: 10, timestamp: (c) => c.time }, counter)
      .collect();
    await job.execute();
    expect(out.records).toEqual(['u1[0,10)=2', 'u2[0,10)=1', 'u1[10,20)=1', 'u2[10,20)=1', 'u1[20,30)=1']);
  });

  it('drops records for windows that already fired and counts them; allowed lateness keeps them', async () => {
    const late: Click[] = [
      { user: 'u', time: 1 },
      { user: 'u', time: 12 },
      { user: 'u', time: 25 },
      { user: 'u', time: 5 }, // its window [0,10) fired when time 25 arrived (or 12 with no lateness)
    ];
    const strict = new Job({ batchSize: 1 });
    const strictOut = strict
      .fromIterable(late)
      .keyBy((c) => c.user)
      .tumblingWindow({ sizeMs: 10, timestamp: (c) => c.time }, counter, { name: 'counts' })
      .collect();
    const result = await strict.execute();
    expect(strictOut.records).toEqual(['u[0,10)=1', 'u[10,20)=1', 'u[20,30)=1']);
    expect(result.metrics.find((m) => m.operator === 'counts')?.extra.lateRecordsDropped).toBe(1);

    const lenient = new Job({ batchSize: 1 });
    const lenientOut = lenient
      .fromIterable(late)
      .keyBy((c) => c.user)
      .tumblingWindow({ sizeMs: 10, timestamp: (c) => c.time, allowedLatenessMs: 20 }, counter)
      .collect();
    await lenient.execute();
    expect(lenientOut.records).toEqual(['u[0,10)=2', 'u[10,20)=1', 'u[20,30)=1']);
  });

  it('parallel upstream subtasks at different speeds do not make each other late (per-producer watermarks)', async () => {
    let fastDone!: () => void;
    const fastFinished = new Promise<void>((resolve) => {
      fastDone = resolve;
    });
    const job = new Job({ batchSize: 10 });
    const out = job
      .source<Click>(
        ({ subtaskIndex }) => ({
          async run({ output }) {
            // Subtask 1 starts only after subtask 0 sent all of its (equally timed) clicks.
            if (subtaskIndex === 1) await fastFinished;
            for (let time = 0; time < 100; time++) output.emit({ user: 'u', time });
            await output.flush();
            if (subtaskIndex === 0) fastDone();
          },
        }),
        { parallelism: 2 },
      )
      .keyBy((c) => c.user)
      .tumblingWindow({ sizeMs: 10, timestamp: (c) => c.time }, counter, { name: 'counts' })
      .collect();
    const result = await job.execute();
    expect(out.records).toEqual(Array.from({ length: 10 }, (_, w) => `u[${w * 10},${w * 10 + 10})=20`));
    expect(result.metrics.find((m) => m.operator === 'counts')?.extra.lateRecordsDropped).toBeUndefined();
  });

  it('fails with the record when the timestamp is not a number', async () => {
    const job = new Job();
    job
      .fromIterable([{ user: 'x', time: 'yesterday' as unknown as number }])
      .keyBy((c) => c.user)
      .tumblingWindow({ sizeMs: 10, timestamp: (c) => c.time }, counter, { name: 'per-user' })
      .collect();
    await expect(job.execute()).rejects.toThrow(
      /Operator 'per-user' \(subtask 1\/1\) failed on record \{"user":"x","time":"yesterday"\}: the timestamp function returned yesterday/,
    );
  });
});

describe('stream-table join', () => {
  interface Profile {
    user: string;
    country: string;
  }

  it('joins each record with the latest row of its key; updates affect only later records', async () => {
    // Gates make the interleaving of the two inputs deterministic without relying on timing.
    const seen = new Map<string, () => void>();
    const sawOutput = (text: string) => new Promise<void>((resolve) => seen.set(text, resolve));
    const firstJoined = sawOutput('1:NO');
    const markerJoined = sawOutput('0:marker');
    async function* profiles(): AsyncGenerator<Profile> {
      yield { user: 'u1', country: 'NO' };
      await firstJoined;
      yield { user: 'u1', country: 'SE' };
      yield { user: 'marker', country: 'marker' };
    }
    async function* clicks(): AsyncGenerator<Click> {
      yield { user: 'u1', time: 1 }; // waits for (or finds) the NO row
      yield { user: 'marker', time: 0 }; // joins only once SE (queued before it) was applied
      await markerJoined;
      yield { user: 'u1', time: 2 };
    }
    const job = new Job({ batchSize: 1 });
    const table = job.fromIterable(profiles);
    const out: string[] = [];
    job
      .fromIterable(clicks)
      .keyBy((c) => c.user)
      .joinTable(
        table.keyBy((p) => p.user),
        (click, profile) => `${click.time}:${profile?.country}`,
      )
      .forEach((text) => {
        out.push(text);
        seen.get(text)?.();
      });
    await job.execute();
    expect(out).toEqual(['1:NO', '0:marker', '2:SE']);
  });

  it('records wait for their row; at table end unmatched ones are dropped (inner) or emitted (left)', async () => {
    for (const type of ['inner', 'left'] as const) {
      const job = new Job({ parallelism: 2 });
      const clicks = job.fromIterable<Click>([
        { user: 'u1', time: 1 },
        { user: 'ghost', time: 2 },
        { user: 'u2', time: 3 },
      ]);
      const table = job.fromIterable<Profile>(() =>
        slow(
          [
            { user: 'u1', country: 'NO' },
            { user: 'u2', country: 'DE' },
          ],
          20,
        ),
      );
      const out = clicks
        .keyBy((c) => c.user)
        .joinTable(
          table.keyBy((p) => p.user),
          (click, profile) => `${click.user}:${profile?.country ?? 'none'}`,
          { type, name: 'enrich' },
        )
        .collect();
      const result = await job.execute();
      const expected = type === 'inner' ? ['u1:NO', 'u2:DE'] : ['ghost:none', 'u1:NO', 'u2:DE'];
      expect([...out.records].sort()).toEqual(expected);
      if (type === 'inner') {
        expect(result.metrics.find((m) => m.operator === 'enrich')?.extra.joinDroppedUnmatched).toBe(1);
      }
    }
  });
});

async function* slow<T>(records: T[], delayMs: number): AsyncGenerator<T> {
  for (const record of records) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    yield record;
  }
}
