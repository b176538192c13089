/**
 * The .proto alone is enough to join a cluster: a client built at run time from
 * `@millrace/protocol`'s .proto file (proto-loader, none of the generated TypeScript) registers,
 * watches, reports and gets refusals with the documented status codes.
 */

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  type Client,
  credentials,
  loadPackageDefinition,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ErrorCode, errorDetailOf } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplicationManager } from './application-manager.js';
import { createGenericEngine } from './generic-engine.js';

const protocolRoot = dirname(createRequire(import.meta.url).resolve('@millrace/protocol/package.json'));
const definition = loadSync('millrace/v1/application_manager.proto', {
  includeDirs: [join(protocolRoot, 'proto')],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
type Callback = (error: ServiceError | null, response?: Record<string, unknown>) => void;
type DynamicClient = Client &
  Record<string, (request: unknown, metadata: Metadata, callback?: Callback) => unknown>;
const { millrace } = loadPackageDefinition(definition) as unknown as {
  millrace: {
    v1: {
      ApplicationManager: new (
        address: string,
        creds: ReturnType<typeof credentials.createInsecure>,
      ) => DynamicClient;
    };
  };
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function call(client: DynamicClient, method: string, request: unknown, token: string) {
  const metadata = new Metadata();
  metadata.set('x-millrace-token', token);
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    client[method]!(request, metadata, (error, response) => (error ? reject(error) : resolve(response!)));
  });
}

describe('the protocol, from the .proto alone', () => {
  it('registers a node, streams it the spec and ends the job on its success report', async () => {
    const am = await ApplicationManager.start({
      config: { engine: 'generic', roles: { worker: { instances: 1 } } },
      engine: createGenericEngine(),
    });
    cleanups.push(() => am.close());
    const client = new millrace.v1.ApplicationManager(am.address, credentials.createInsecure());
    cleanups.push(() => client.close());

    const refused = call(
      client,
      'RegisterNode',
      { protocol_version: 'millrace.v1', role: 'chief', index: 0 },
      am.token,
    );
    await expect(refused).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/no role 'chief'/),
    });
    const unauthenticated = call(client, 'GetJobStatus', {}, 'wrong');
    await expect(unauthenticated).rejects.toMatchObject({ code: status.UNAUTHENTICATED });

    const registered = await call(
      client,
      'RegisterNode',
      {
        protocol_version: 'millrace.v1',
        role: 'worker',
        index: 0,
        host: '127.0.0.1',
        ports: { port: 4242 },
        pid: 7,
        generation: 0,
      },
      am.token,
    );
    expect(registered).toMatchObject({
      generation: 0,
      attempt: 0,
      engine: 'generic',
      heartbeat_interval_ms: 500,
    });

    const metadata = new Metadata();
    metadata.set('x-millrace-token', am.token);
    const stream = client.WatchCluster!(
      { role: 'worker', index: 0, generation: 0 },
      metadata,
    ) as NodeJS.EventEmitter & {
      cancel(): void;
    };
    cleanups.push(() => stream.cancel());
    const first = await new Promise<{
      event: string;
      spec_ready: { spec: { roles: Record<string, { nodes: unknown[] }> } };
    }>((resolve) => stream.once('data', resolve));
    expect(first.event).toBe('spec_ready');
    expect(first.spec_ready.spec.roles.worker?.nodes[0]).toMatchObject({
      role: 'worker',
      host: '127.0.0.1',
      ports: { port: 4242 },
    });

    await call(
      client,
      'ReportStatus',
      { role: 'worker', index: 0, generation: 0, state: 'NODE_STATE_SUCCEEDED' },
      am.token,
    );
    expect(await am.result).toMatchObject({ status: 'succeeded' });
    const job = await call(client, 'GetJobStatus', {}, am.token);
    expect(job).toMatchObject({ state: 'finished', nodes: [{ role: 'worker', status: 'finished' }] });
  });
});

/** The rules the .proto's comments state, one test each, checked from the .proto alone. */
describe('the protocol keeps the words of its .proto', () => {
  async function startCluster(config: Record<string, unknown> = {}) {
    const am = await ApplicationManager.start({
      config: {
        engine: 'generic',
        roles: { worker: { instances: 2 } },
        // Generous: these nodes heartbeat by hand only where a rule is about heartbeats.
        heartbeat: { intervalMs: 1_000, missedLimit: 30 },
        restartBackoff: { initialMs: 0, maxMs: 0 },
        ...config,
      },
      engine: createGenericEngine(),
    });
    cleanups.push(() => am.close());
    const client = new millrace.v1.ApplicationManager(am.address, credentials.createInsecure());
    cleanups.push(() => client.close());
    return { am, client };
  }
  const register = (client: DynamicClient, token: string, role: string, index: number, generation = 0) =>
    call(
      client,
      'RegisterNode',
      { protocol_version: 'millrace.v1', role, index, host: '127.0.0.1', pid: 1, generation },
      token,
    );
  function watch(client: DynamicClient, token: string, role: string, index: number, generation: number) {
    const metadata = new Metadata();
    metadata.set('x-millrace-token', token);
    const stream = client.WatchCluster!({ role, index, generation }, metadata) as NodeJS.EventEmitter & {
      cancel(): void;
    };
    stream.on('error', () => {});
    cleanups.push(() => stream.cancel());
    return new Promise<Record<string, unknown>>((resolve) => stream.once('data', resolve));
  }

  it('"any other call from the node counts as a heartbeat": a node that only reopens WatchCluster stays alive', async () => {
    const { am, client } = await startCluster({
      roles: { worker: { instances: 1 } },
      heartbeat: { intervalMs: 200, missedLimit: 5 },
    });
    await register(client, am.token, 'worker', 0);
    // Three times the 1 s death bound with no Heartbeat at all, only WatchCluster calls every 100 ms.
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      void watch(client, am.token, 'worker', 0, 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(am.snapshot.failures).toEqual([]);
    expect(am.snapshot.state).toBe('running');
  });

  it('a pending restart is replayed on a stream opened from the generation the node left behind', async () => {
    const { am, client } = await startCluster();
    await register(client, am.token, 'worker', 0);
    await register(client, am.token, 'worker', 1);
    await call(
      client,
      'ReportStatus',
      { role: 'worker', index: 0, generation: 0, state: 'NODE_STATE_RUNNING' },
      am.token,
    );
    await call(
      client,
      'ReportStatus',
      {
        role: 'worker',
        index: 1,
        generation: 0,
        state: 'NODE_STATE_FAILED',
        reason: 'FAILURE_REASON_EXITED',
        exit_code: 3,
      },
      am.token,
    );
    // worker[0] had no stream open when the restart was sent; it opens one now, from generation 0.
    const first = await watch(client, am.token, 'worker', 0, 0);
    expect(first).toMatchObject({ event: 'restart', restart: { generation: 1 } });
  });

  it("RegisterNode with an empty role name is INVALID_ARGUMENT, as the .proto's example says", async () => {
    const { am, client } = await startCluster();
    await expect(register(client, am.token, '', 0)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/role name is empty/),
    });
    const refused = await register(client, am.token, '', 0).catch((error: ServiceError) => error);
    expect(errorDetailOf(refused)?.code).toBe(ErrorCode.ERROR_CODE_INVALID_ARGUMENT);
  });

  it('a Heartbeat from a generation the cluster has not reached is refused', async () => {
    const { am, client } = await startCluster();
    await register(client, am.token, 'worker', 0);
    await expect(
      call(client, 'Heartbeat', { role: 'worker', index: 0, generation: 5 }, am.token),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/generation 5 does not exist/),
    });
    await expect(
      call(client, 'Heartbeat', { role: 'worker', index: 0, generation: 0 }, am.token),
    ).resolves.toMatchObject({
      generation: 0,
    });
  });

  it('ReportStatus(SUCCEEDED) before spec_ready is refused, not answered OK and dropped', async () => {
    const { am, client } = await startCluster();
    await register(client, am.token, 'worker', 0);
    await expect(
      call(
        client,
        'ReportStatus',
        { role: 'worker', index: 0, generation: 0, state: 'NODE_STATE_SUCCEEDED' },
        am.token,
      ),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/before the cluster spec/),
    });
    // Once the spec is out, the same report is taken.
    await register(client, am.token, 'worker', 1);
    for (const index of [0, 1]) {
      await call(
        client,
        'ReportStatus',
        { role: 'worker', index, generation: 0, state: 'NODE_STATE_SUCCEEDED' },
        am.token,
      );
    }
    expect(await am.result).toMatchObject({ status: 'succeeded' });
  });
});
