import { credentials, type ServiceError } from '@grpc/grpc-js';
import {
  AuthenticationError,
  ConfigError,
  MLFrameworkRegistry,
  RegistrationError,
  StaleGenerationError,
} from '@millrace/core';
import {
  ApplicationManagerClient,
  ErrorCode,
  errorDetailOf,
  NodeState,
  protocolVersion,
} from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplicationManagerConnection } from './am-client.js';
import { ApplicationManager } from './application-manager.js';
import { createGenericEngine } from './generic-engine.js';

const engine = createGenericEngine({ roles: ['worker', 'ps'], servingRoles: ['ps'] });
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startAm(overrides: Record<string, unknown> = {}) {
  const am = await ApplicationManager.start({
    config: {
      engine: 'generic',
      roles: { worker: { instances: 2 } },
      restartBackoff: { initialMs: 0, maxMs: 0 },
      ...overrides,
    },
    engine,
  });
  cleanups.push(() => am.close());
  return am;
}

function connect(am: ApplicationManager, token = am.token) {
  const connection = new ApplicationManagerConnection({ address: am.address, token });
  cleanups.push(() => connection.close());
  return connection;
}

const registration = (role: string, index: number, generation = 0) => ({
  protocolVersion,
  role,
  index,
  host: '127.0.0.1',
  ports: { port: 1234 },
  pid: 1,
  generation,
});

describe('ApplicationManager: invalid config fails before anything starts, naming the field', () => {
  it('rejects 0 workers', async () => {
    const started = ApplicationManager.start({
      config: { engine: 'generic', roles: { worker: { instances: 0 } } },
      engine,
    });
    await expect(started).rejects.toBeInstanceOf(ConfigError);
    await expect(started).rejects.toThrow(/config\.roles\.worker\.instances: must be/);
  });

  it('rejects negative timeouts', async () => {
    const started = ApplicationManager.start({
      config: {
        engine: 'generic',
        roles: { worker: { instances: 1 } },
        heartbeat: { intervalMs: -5 },
        registrationTimeoutMs: -1,
      },
      engine,
    });
    await expect(started).rejects.toThrow(/config\.heartbeat\.intervalMs/);
    await expect(started).rejects.toThrow(/config\.registrationTimeoutMs/);
  });

  it('rejects an unknown engine, listing the registered ones', async () => {
    const engines = new MLFrameworkRegistry().register(engine);
    const started = ApplicationManager.start({
      config: { engine: 'tensorflw', roles: { worker: { instances: 1 } } },
      engines,
    });
    await expect(started).rejects.toThrow(
      /config\.engine: unknown engine 'tensorflw'; registered engines: generic/,
    );
  });

  it('rejects a role the engine does not know', async () => {
    const started = ApplicationManager.start({
      config: { engine: 'generic', roles: { chief: { instances: 1 } } },
      engine,
    });
    await expect(started).rejects.toThrow(/config\.roles\.chief: engine 'generic' has no role 'chief'/);
  });
});

describe('ApplicationManager: bad calls are refused and the AM stays healthy', () => {
  it('refuses a wrong or missing token on every call and changes nothing', async () => {
    const am = await startAm();
    const before = am.status();
    const intruder = connect(am, 'not-the-token');
    await expect(intruder.registerNode(registration('worker', 0))).rejects.toBeInstanceOf(
      AuthenticationError,
    );
    await expect(intruder.heartbeat({ role: 'worker', index: 0, generation: 0 })).rejects.toBeInstanceOf(
      AuthenticationError,
    );
    await expect(intruder.stopJob('let me stop it')).rejects.toBeInstanceOf(AuthenticationError);
    await expect(intruder.getJobStatus()).rejects.toBeInstanceOf(AuthenticationError);
    const watchEnded = new Promise((resolve) =>
      intruder.watchCluster(
        { role: 'worker', index: 0, generation: 0 },
        { onEvent: () => {}, onEnd: resolve },
      ),
    );
    expect(await watchEnded).toBeInstanceOf(AuthenticationError);

    // No token at all.
    const bare = new ApplicationManagerClient(am.address, credentials.createInsecure());
    cleanups.push(() => bare.close());
    const error = await new Promise<ServiceError | null>((resolve) =>
      bare.getJobStatus({ observer: '' }, (failure) => resolve(failure)),
    );
    expect(errorDetailOf(error)?.code).toBe(ErrorCode.ERROR_CODE_AUTHENTICATION);

    expect(am.status()).toEqual({ ...before, nodes: before.nodes.map((node) => ({ ...node })) });
    expect(am.snapshot.state).toBe('initializing');
  });

  it('refuses an unknown role, an index out of range and a duplicate with distinct codes', async () => {
    const am = await startAm();
    const node = connect(am);
    await expect(node.registerNode(registration('chief', 0))).rejects.toMatchObject({
      reason: 'unknown-role',
      message: expect.stringMatching(/no role 'chief'/),
    });
    await expect(node.registerNode(registration('worker', 2))).rejects.toMatchObject({
      reason: 'index-out-of-range',
      message: expect.stringMatching(/worker\[2\] is out of range: role 'worker' has 2 instance\(s\)/),
    });
    await node.registerNode(registration('worker', 0));
    const duplicate = node.registerNode(registration('worker', 0));
    await expect(duplicate).rejects.toBeInstanceOf(RegistrationError);
    await expect(duplicate).rejects.toMatchObject({ reason: 'duplicate' });

    // Still healthy: the other worker completes the cluster.
    await node.registerNode(registration('worker', 1));
    expect(am.snapshot.state).toBe('running');
    expect(am.observations.some((o) => o.type === 'cluster-ready')).toBe(true);
  });

  it('refuses calls from an old generation with STALE_GENERATION and the current one', async () => {
    const am = await startAm({ roles: { worker: { instances: 1 } } });
    const node = connect(am);
    await node.registerNode(registration('worker', 0));
    await node.reportStatus({
      role: 'worker',
      index: 0,
      generation: 0,
      state: NodeState.NODE_STATE_FAILED,
      attempt: 0,
      reason: 1,
      exitCode: 3,
      signal: '',
      message: 'exit 3',
      stderrTail: 'boom',
      metrics: {},
      permanent: false,
    });
    // restart-all bumps the generation; the backoff is 0 ms.
    await waitUntil(() => am.snapshot.state === 'registering' && am.snapshot.generation === 1);
    const stale = node.heartbeat({ role: 'worker', index: 0, generation: 0 });
    await expect(stale).rejects.toBeInstanceOf(StaleGenerationError);
    await expect(stale).rejects.toMatchObject({ received: 0, current: 1 });
    await expect(node.registerNode(registration('worker', 0, 0))).rejects.toMatchObject({
      code: 'STALE_GENERATION',
    });

    // The node re-registers into the new generation and the cluster runs again.
    const response = await node.registerNode(registration('worker', 0, 1));
    expect(response).toMatchObject({ generation: 1, attempt: 1 });
    expect(am.snapshot.state).toBe('running');
  });

  it('refuses registrations during the restart backoff with NOT_ACCEPTING, then takes them', async () => {
    const am = await startAm({
      roles: { worker: { instances: 1 } },
      restartBackoff: { initialMs: 300, maxMs: 300 },
    });
    const node = connect(am);
    await node.registerNode(registration('worker', 0));
    await node.reportStatus({
      role: 'worker',
      index: 0,
      generation: 0,
      state: NodeState.NODE_STATE_FAILED,
      attempt: 0,
      reason: 1,
      exitCode: 1,
      signal: '',
      message: 'exit 1',
      stderrTail: '',
      metrics: {},
      permanent: false,
    });
    expect(am.snapshot.state).toBe('failing-over');
    await expect(node.registerNode(registration('worker', 0, 1))).rejects.toMatchObject({
      reason: 'not-accepting',
    });
    await waitUntil(() => am.snapshot.state === 'registering');
    await expect(node.registerNode(registration('worker', 0, 1))).resolves.toMatchObject({
      generation: 1,
      attempt: 1,
    });
  });

  it('refuses a protocol version it does not speak', async () => {
    const am = await startAm();
    const node = connect(am);
    await expect(
      node.registerNode({ ...registration('worker', 0), protocolVersion: 'millrace.v0' }),
    ).rejects.toMatchObject({
      code: 'VERSION_MISMATCH',
    });
  });

  it('stops on StopJob and answers later registrations with JOB_ENDED', async () => {
    const am = await startAm();
    const node = connect(am);
    await node.stopJob('test stop');
    const outcome = await am.result;
    expect(outcome).toMatchObject({ status: 'stopped', reason: 'test stop' });
    await expect(node.registerNode(registration('worker', 0))).rejects.toThrow(
      /JOB_ENDED: the job already ended/,
    );
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('ApplicationManager: a node whose agent died is not waited for in every generation', () => {
  it('fails the job within the rejoin bound (it waited 60 s × 3 generations: 182 s)', async () => {
    const am = await startAm({
      heartbeat: { intervalMs: 100, missedLimit: 3 },
      stopGracePeriodMs: 500,
      registrationTimeoutMs: 60_000,
      maxRestarts: 3,
    });
    const survivor = connect(am);
    const dying = connect(am);
    await survivor.registerNode(registration('worker', 0));
    await dying.registerNode(registration('worker', 1));
    const started = Date.now();
    // worker[0]'s agent lives on: it heartbeats and re-registers into each new generation.
    let generation = 0;
    const beats = setInterval(() => {
      const current = am.snapshot.generation;
      if (current > generation && am.snapshot.state === 'registering') {
        generation = current;
        void survivor.registerNode(registration('worker', 0, current)).catch(() => {});
      }
      void survivor.heartbeat({ role: 'worker', index: 0, generation }).catch(() => {});
    }, 50);
    cleanups.push(() => clearInterval(beats));
    // worker[1]'s agent was killed: it never calls again.
    const outcome = await am.result;
    const tookMs = Date.now() - started;
    expect(outcome.status).toBe('failed');
    expect(outcome.restarts).toBe(1);
    expect(outcome.error?.message).toMatch(/worker\[1\].*its agent is gone/s);
    // Detection (3 × 100 ms) + the rejoin bound (500 + 4 × 300 ms), with room for a loaded machine.
    expect(tookMs).toBeLessThan(15_000);
  });
});
