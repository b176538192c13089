import type { ClusterObservation } from '@millrace/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type DashboardServer, parseListenAddress, startDashboardServer } from './dashboard-server.js';
import { JobView } from './job-view.js';
import { parsePrometheusText, seriesKey } from './testing/prometheus-text.js';

const servers: DashboardServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

function observe(view: JobView, observation: ClusterObservation) {
  view.apply({ type: 'cluster-observation', cluster: 'train-am', observation });
}

async function scrape(server: DashboardServer, token = server.readOnlyToken) {
  const response = await fetch(server.metricsUrl, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, text: await response.text() };
}

/** A two-worker cluster where worker[1] is killed and restarted alone, and a pipeline moving records. */
function driveJob(view: JobView, step: number) {
  if (step === 0) {
    observe(view, { type: 'state-changed', state: 'registering', generation: 0 });
    for (const index of [0, 1])
      observe(view, { type: 'node-registered', role: 'worker', index, generation: 0 });
    observe(view, {
      type: 'cluster-ready',
      spec: {
        jobName: 'train',
        generation: 0,
        roles: {
          worker: [0, 1].map((index) => ({ role: 'worker', index, host: '127.0.0.1', ports: {} })),
        },
      },
    });
    for (const index of [0, 1])
      observe(view, { type: 'node-started', role: 'worker', index, generation: 0, attempt: 0 });
  }
  for (const index of [0, 1])
    observe(view, {
      type: 'node-metrics',
      role: 'worker',
      index,
      metrics: { step: step * 10, loss: 1 / (step + 1), samples_per_second: index === 0 ? 1000 : 400 },
    });
  view.apply({
    type: 'operator-metrics',
    job: 'flagship',
    operators: [
      {
        operator: 'parse',
        parallelism: 2,
        recordsIn: 1000 * (step + 1),
        recordsOut: 990 * (step + 1),
        busyMs: 10 * step,
        backpressuredMs: 5 * step,
        // A bounded source of 9,900 records: the job's progress.
        extra: { expectedRecords: 9900 },
        subtasks: [0, 1].map((subtask) => ({ backpressuredMs: 2.5 * step * (subtask + 1) })),
      },
      {
        // An ML role behind the parser: its input channel and the queue in front of each runner.
        operator: 'train-worker',
        parallelism: 2,
        recordsIn: 990 * (step + 1),
        recordsOut: 0,
        busyMs: 5 * step,
        backpressuredMs: 20 * step,
        subtasks: [0, 1].map((subtask) => ({
          backpressuredMs: 10 * step,
          inputQueuedBatches: subtask === 0 ? 16 : step,
          inputQueueCapacity: 16,
          gauges: {
            roleInputQueueFillRatio: subtask === 0 ? 1 : 0.25,
            roleInputRingFillRatio: 0.5,
            replayBufferRecords: 300 + step,
            // Any other level an operator reports goes out by its name.
            modelVersion: 3,
          },
        })),
      },
    ],
  });
  if (step === 1) {
    observe(view, {
      type: 'node-failed',
      failure: {
        role: 'worker',
        index: 1,
        generation: 0,
        reason: 'exited',
        signal: 'SIGKILL',
        message: 'killed',
      },
    });
    observe(view, {
      type: 'generation-started',
      generation: 1,
      policy: 'restart-one',
      restarting: ['worker:1'],
    });
    observe(view, { type: 'node-started', role: 'worker', index: 1, generation: 1, attempt: 1 });
  }
}

describe('the dashboard server', () => {
  it('serves /metrics in the Prometheus format: the names are there, counters only grow, a wrong token gets 401', async () => {
    const view = new JobView();
    const server = await startDashboardServer({ view, acceptTokens: ['job-token'] });
    servers.push(server);
    driveJob(view, 0);
    const first = parsePrometheusText((await scrape(server)).text);
    driveJob(view, 1);
    driveJob(view, 2);
    const secondResponse = await scrape(server, 'job-token');
    expect(secondResponse.status).toBe(200);
    const second = parsePrometheusText(secondResponse.text);

    const names = new Set(second.samples.map((sample) => sample.name));
    for (const name of [
      'millrace_job_duration_seconds',
      'millrace_cluster_state',
      'millrace_cluster_generation',
      'millrace_cluster_restarts_total',
      'millrace_nodes',
      'millrace_node_last_report_age_seconds',
      'millrace_runner_metric',
      'millrace_operator_records_in_total',
      'millrace_operator_records_out_total',
      'millrace_operator_backpressured_seconds_total',
      'millrace_operator_backpressure_ratio',
      'millrace_operator_input_queue_fill_ratio',
      'millrace_operator_subtask_backpressured_seconds_total',
      'millrace_role_input_queue_fill_ratio',
      'millrace_replay_buffer_records',
      'millrace_role_input_ring_fill_ratio',
      'millrace_operator_gauge',
    ])
      expect(names, name).toContain(name);
    // Fill ratios are shares: every one in [0, 1].
    for (const sample of second.samples)
      if (sample.name.endsWith('_fill_ratio')) {
        expect(sample.value, seriesKey(sample)).toBeGreaterThanOrEqual(0);
        expect(sample.value, seriesKey(sample)).toBeLessThanOrEqual(1);
      }
    // Every _total is a counter, and every counter only grew between the scrapes.
    for (const [name, type] of second.types) if (name.endsWith('_total')) expect(type, name).toBe('counter');
    const before = new Map(first.samples.map((sample) => [seriesKey(sample), sample.value]));
    for (const sample of second.samples) {
      if (second.types.get(sample.name) !== 'counter') continue;
      expect(sample.value, seriesKey(sample)).toBeGreaterThanOrEqual(before.get(seriesKey(sample)) ?? 0);
    }
    const find = (name: string, labels: Record<string, string>) =>
      second.samples.find(
        (sample) =>
          sample.name === name &&
          Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
      )?.value;
    expect(find('millrace_cluster_restarts_total', { cluster: 'train-am', reason: 'exited' })).toBe(1);
    expect(find('millrace_cluster_generation', { cluster: 'train-am' })).toBe(1);
    expect(find('millrace_cluster_state', { state: 'registering' })).toBe(1);
    expect(find('millrace_operator_records_in_total', { operator: 'parse' })).toBe(3000);
    expect(find('millrace_runner_metric', { role: 'worker', index: '1', name: 'samples_per_second' })).toBe(
      400,
    );
    expect(find('millrace_nodes', { state: 'running' })).toBe(2);
    expect(find('millrace_job_progress_ratio', {})).toBeCloseTo((990 * 3) / 9900, 6);
    expect(find('millrace_operator_input_queue_fill_ratio', { operator: 'train-worker', subtask: '0' })).toBe(
      1,
    );
    expect(find('millrace_operator_input_queue_fill_ratio', { operator: 'train-worker', subtask: '1' })).toBe(
      2 / 16,
    );
    // A source has no input channel.
    expect(find('millrace_operator_input_queue_fill_ratio', { operator: 'parse' })).toBeUndefined();
    expect(find('millrace_role_input_queue_fill_ratio', { operator: 'train-worker', subtask: '1' })).toBe(
      0.25,
    );
    expect(find('millrace_replay_buffer_records', { operator: 'train-worker', subtask: '0' })).toBe(302);
    expect(find('millrace_role_input_ring_fill_ratio', { operator: 'train-worker', subtask: '1' })).toBe(0.5);
    expect(find('millrace_operator_gauge', { operator: 'train-worker', name: 'modelVersion' })).toBe(3);
    expect(find('millrace_operator_gauge', { name: 'replayBufferRecords' })).toBeUndefined();
    expect(
      find('millrace_operator_subtask_backpressured_seconds_total', { operator: 'parse', subtask: '1' }),
    ).toBeCloseTo(0.01, 6);

    expect((await scrape(server, 'wrong')).status).toBe(401);
    expect((await fetch(server.metricsUrl)).status).toBe(401);
    expect((await fetch(`${server.metricsUrl}?token=${server.readOnlyToken}`)).status).toBe(200);
  });

  it('streams the view to the page over server-sent events, and the page needs the token', async () => {
    const view = new JobView();
    const server = await startDashboardServer({ view });
    servers.push(server);
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/assets/uplot.js');
    expect((await fetch(server.url.replace(/token=.*/, 'token=nope'))).status).toBe(401);
    const script = await fetch(new URL('/assets/uplot.js', server.url));
    expect((await script.text()).length).toBeGreaterThan(10_000);

    const events = await fetch(new URL(`/events?token=${server.readOnlyToken}`, server.url));
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const states = () =>
      [...text.matchAll(/^data: (.*)$/gm)].map(
        (match) => JSON.parse(match[1]!) as ReturnType<JobView['snapshot']>,
      );
    driveJob(view, 0);
    driveJob(view, 1);
    const deadline = Date.now() + 10_000;
    while (!states().some((state) => state.restarts.length === 1) && Date.now() < deadline)
      text += (await reader.read()).value ?? '';
    await reader.cancel();
    const last = states().at(-1)!;
    expect(last.restarts[0]).toMatchObject({ reason: 'exited', nodes: ['worker[1]'], policy: 'restart-one' });
    const worker1 = last.clusters[0]!.nodes.find((node) => node.index === 1)!;
    expect(worker1).toMatchObject({ status: 'running', attempt: 1, generation: 1, host: '127.0.0.1' });
    // Worker 1 runs at 400/s against a role median of 700/s: a straggler.
    expect(worker1.throughputVsRoleMedian).toBeCloseTo(400 / 700, 5);
  });

  it('parses [HOST:]PORT and says what it expects otherwise', () => {
    expect(parseListenAddress('0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('0.0.0.0:9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(parseListenAddress('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    expect(() => parseListenAddress('localhost:http')).toThrow(/give \[HOST:\]PORT/);
    expect(() => parseListenAddress('70000')).toThrow(/not a listen address/);
  });
});
