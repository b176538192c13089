import { randomUUID } from 'node:crypto';
import { parseMetricsLine } from '@millrace/runner-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { createGenericEngine } from './generic-engine.js';
import { launchLocalCluster } from './local-cluster.js';
import { processRunner } from './process-runner.js';
import { processesWithMarker } from './testing/index.js';

const marker = `millrace-process-runner-test-${randomUUID()}`;

afterEach(() => {
  expect(processesWithMarker(marker)).toEqual([]);
});

describe('processRunner', () => {
  it('gives the child the Millrace environment and the ports published in the spec', async () => {
    const script = `
      const spec = JSON.parse(process.env.MILLRACE_CLUSTER_SPEC);
      const published = spec.roles.worker[Number(process.env.MILLRACE_INDEX)].ports.rpc;
      const ok = Number(process.env.MILLRACE_PORT_RPC) === published && process.env.MILLRACE_ROLE === 'worker';
      console.log('millrace:metrics ' + JSON.stringify({ ok: ok ? 1 : 0, generation: Number(process.env.MILLRACE_GENERATION) }));`;
    const cluster = launchLocalCluster({
      engine: createGenericEngine({ ports: ['rpc'] }),
      config: { engine: 'generic', roles: { worker: { instances: 2 } } },
      runnerFor: () =>
        processRunner({ command: process.execPath, args: ['-e', script, marker], output: 'ignore' }),
    });
    expect((await cluster.result).status).toBe('succeeded');
    const metrics = cluster.observations.filter((o) => o.type === 'node-metrics');
    expect(metrics.map((o) => (o.type === 'node-metrics' ? o.metrics.ok : 0))).toEqual([1, 1]);
  });

  it('hands the reserved ports over as bound sockets, so the published port is the one the child serves', async () => {
    const script = `
      const net = require('node:net');
      const server = net.createServer().listen({ fd: Number(process.env.MILLRACE_PORT_FD_RPC) }, () => {
        console.log('millrace:metrics ' + JSON.stringify({ serving: server.address().port, published: Number(process.env.MILLRACE_PORT_RPC) }));
        server.close();
      });`;
    const cluster = launchLocalCluster({
      engine: createGenericEngine({ ports: ['rpc'] }),
      config: { engine: 'generic', roles: { worker: { instances: 1 } } },
      runnerFor: () =>
        processRunner({
          command: process.execPath,
          args: ['-e', script, marker],
          output: 'ignore',
          handOverPorts: true,
        }),
    });
    const outcome = await cluster.result;
    expect(outcome.status, outcome.reason).toBe('succeeded');
    const ready = cluster.observations.find((o) => o.type === 'cluster-ready');
    const published = ready?.type === 'cluster-ready' ? ready.spec.roles.worker?.[0]?.ports.rpc : undefined;
    const metrics = cluster.observations.find((o) => o.type === 'node-metrics');
    expect(metrics?.type === 'node-metrics' && metrics.metrics).toEqual({ serving: published, published });
  });

  it('reads metrics lines and ignores everything else', () => {
    expect(parseMetricsLine('millrace:metrics {"loss":0.5,"name":"x","step":3}')).toEqual({
      loss: 0.5,
      step: 3,
    });
    expect(parseMetricsLine('millrace:metrics not json')).toBeUndefined();
    expect(parseMetricsLine('loss 0.5')).toBeUndefined();
  });
});
