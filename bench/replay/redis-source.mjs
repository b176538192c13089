// redis_source_vs_in_process: records/s through source → mapBatches → forEach (sum of ids) when
// the source is a Redis Streams consumer group (entries XACKed per batch once processed) versus
// an in-process iterable source. Each competitor is its own fresh Node process doing the same
// work; the section refuses to report when their checksums differ. The Redis entries are loaded
// before the clock starts; the clock stops when the last record was summed. Needs Debian's
// redis-server and the built packages (`npm run build`).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const recordCount = Number(process.env.BENCH_RECORDS ?? 200_000);
const repetitions = Number(process.env.BENCH_REPETITIONS ?? 3);
const self = fileURLToPath(import.meta.url);

export async function measure() {
  const { startRedisServer } = await import('../../packages/connector-redis/dist/testing/index.js');
  const server = await startRedisServer();
  try {
    const runs = { inProcess: [], redis: [] };
    for (let repetition = 0; repetition < repetitions; repetition++) {
      for (const competitor of ['inProcess', 'redis']) {
        const output = execFileSync(process.execPath, [self, competitor, server.url, String(repetition)], {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        });
        runs[competitor].push(JSON.parse(output.trim().split('\n').pop()));
      }
    }
    const expected = (recordCount * (recordCount - 1)) / 2;
    for (const run of [...runs.inProcess, ...runs.redis]) {
      if (run.checksum !== expected || run.count !== recordCount) {
        throw new Error(
          `redis-source: a competitor's result differs: ${JSON.stringify(run)} (expected checksum ${expected})`,
        );
      }
    }
    const best = (list) => Math.max(...list.map((run) => run.recordsPerSecond));
    const inProcess = best(runs.inProcess);
    const redis = best(runs.redis);
    return {
      redis_source_vs_in_process: Number((redis / inProcess).toFixed(4)),
      redis_source_records_per_second: Math.round(redis),
      in_process_source_records_per_second: Math.round(inProcess),
      redis_source_settings: { records: recordCount, repetitions, batchSize: 1024, readCount: 1024 },
    };
  } finally {
    await server.stop();
  }
}

// A competitor: `node redis-source.mjs inProcess|redis URL REPETITION`; prints one JSON line.
async function competitor(kind, url, repetition) {
  const { Job } = await import('../../packages/dataflow/dist/index.js');
  const job = new Job({ name: `bench-${kind}`, batchSize: 1024 });
  let entries;
  let acknowledge = async () => {};
  if (kind === 'redis') {
    const { Redis } = await import('ioredis');
    const { redisStreamSource } = await import('../../packages/connector-redis/dist/index.js');
    const key = `bench-${repetition}`;
    const redis = new Redis(url);
    for (let start = 0; start < recordCount; start += 10_000) {
      const pipeline = redis.pipeline();
      for (let id = start; id < Math.min(recordCount, start + 10_000); id++) {
        pipeline.xadd(key, '*', 'data', JSON.stringify({ id }));
      }
      await pipeline.exec();
    }
    redis.disconnect();
    const source = redisStreamSource(job, {
      url,
      stream: key,
      group: 'bench',
      consumer: 'c',
      createGroup: true,
      readCount: 1024,
    });
    entries = source.entries.map((entry) => ({ entryId: entry.id, id: entry.value.id }));
    acknowledge = (batch) => source.acknowledge(batch.map((record) => record.entryId));
  } else {
    entries = job.fromIterable(Array.from({ length: recordCount }, (_, id) => ({ entryId: String(id), id })));
  }
  let count = 0;
  let checksum = 0;
  let finished;
  const done = new Promise((resolve) => {
    finished = resolve;
  });
  entries
    .mapBatches(async (batch) => {
      await acknowledge(batch);
      return batch;
    })
    .forEach((record) => {
      count += 1;
      checksum += record.id;
      if (count === recordCount) finished(performance.now());
    });
  const started = performance.now();
  const running = job.execute();
  const ended = await done;
  job.cancel('measured');
  await running;
  process.stdout.write(
    `${JSON.stringify({ kind, count, checksum, recordsPerSecond: recordCount / ((ended - started) / 1000) })}\n`,
  );
}

if (process.argv[1] === self) await competitor(process.argv[2], process.argv[3], process.argv[4]);
