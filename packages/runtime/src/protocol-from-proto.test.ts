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
