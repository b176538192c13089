import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PredictionClient } from './prediction-client.js';
import { PredictionShardServer } from './prediction-shard.js';

const servers: PredictionShardServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A loopback port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('prediction client', () => {
  it('finds a shard at the address a later spec gives it while it is still connecting', async () => {
    // The spec the worker started with names a ps that was killed meanwhile; the restarted ps
    // listens elsewhere and the next spec says where.
    const shard = new PredictionShardServer({ shard: 0, fingerprint: 'model', dim: 2 });
    servers.push(shard);
    shard.addVersion(3, { rowStart: 0, rowEnd: 1, rows: new Float32Array(2), dense: new Float32Array(0) });
    const port = await shard.listen(0, '127.0.0.1');
    const client = new PredictionClient({
      addresses: [`127.0.0.1:${await deadPort()}`],
      worker: 0,
      fingerprint: 'model',
      connectTimeoutMs: 5_000,
      requestTimeoutMs: 1_000,
    });
    const opening = client.open();
    setTimeout(() => client.useAddresses([`127.0.0.1:${port}`]), 200);
    await opening;
    // The versions come from the shard's WELCOME: the client reached the restarted ps.
    expect(client.newestCommonVersion()).toBe(3);
    client.close();
  });

  it('gives up on a shard that never answers after connectTimeoutMs, naming it', async () => {
    const address = `127.0.0.1:${await deadPort()}`;
    const client = new PredictionClient({
      addresses: [address],
      worker: 0,
      fingerprint: 'model',
      connectTimeoutMs: 1_500,
      requestTimeoutMs: 1_000,
    });
    await expect(client.open()).rejects.toThrow(`parameter server 0 at ${address}`);
  });
});
