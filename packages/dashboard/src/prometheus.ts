/**
 * `/metrics` in the Prometheus text format (prom-client 15), read from a {@link JobView} at scrape
 * time: every metric is computed in its `collect`, so a scrape shows the job as it is now and
 * nothing has to be kept in step by hand. Names follow Prometheus conventions: `millrace_` prefix,
 * `_total` for counters, seconds for time.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { inputQueueFill, type JobView, type JobViewSnapshot, type SubtaskCounters } from './job-view.js';

/** Every state a cluster can be in, so `millrace_cluster_state` reports a 0 for the others. */
const clusterStates = [
  'initializing',
  'registering',
  'running',
  'failing-over',
  'finished',
  'succeeded',
  'failed',
  'stopped',
] as const;

export function createMetricsRegistry(view: JobView): Registry {
  const registry = new Registry();
  let snapshot: JobViewSnapshot = view.snapshot();
  // One snapshot per scrape: the first metric collected takes it, the others read it.
  const fresh = () => {
    snapshot = view.snapshot();
    return snapshot;
  };
  const nodeLabels = ['cluster', 'role', 'index'] as const;

  new Gauge({
    name: 'millrace_job_duration_seconds',
    help: 'Seconds since the job started (its total duration once it finished).',
    registers: [registry],
    collect() {
      fresh();
      this.set(view.durationSeconds);
    },
  });
  new Gauge({
    name: 'millrace_job_progress_ratio',
    help: "Share of the bounded sources' records emitted so far (0..1); absent when no source is bounded.",
    registers: [registry],
    collect() {
      this.reset();
      const { progress } = snapshot;
      if (progress) this.set(progress.total > 0 ? progress.done / progress.total : 1);
    },
  });
  new Gauge({
    name: 'millrace_job_finished',
    help: '1 once the job finished, with its status (succeeded, failed, cancelled); absent before.',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      this.reset();
      if (snapshot.outcome) this.set({ status: snapshot.outcome.status }, 1);
    },
  });
  new Gauge({
    name: 'millrace_cluster_state',
    help: '1 for the state each cluster is in, 0 for the others.',
    labelNames: ['cluster', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const cluster of snapshot.clusters)
        for (const state of new Set<string>([...clusterStates, cluster.state]))
          this.set({ cluster: cluster.name, state }, cluster.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'millrace_cluster_generation',
    help: 'The cluster generation (grows by one at every restart).',
    labelNames: ['cluster'],
    registers: [registry],
    collect() {
      this.reset();
      for (const cluster of snapshot.clusters) this.set({ cluster: cluster.name }, cluster.generation);
    },
  });
  new Counter({
    name: 'millrace_cluster_restarts_total',
    help: 'Cluster restarts, by the reason of the failure that caused them (exited, heartbeat-missed, stalled...).',
    labelNames: ['cluster', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const cluster of snapshot.clusters)
        for (const [reason, count] of Object.entries(cluster.restartsByReason))
          this.inc({ cluster: cluster.name, reason }, count);
    },
  });
  new Gauge({
    name: 'millrace_nodes',
    help: 'Nodes by state (pending, registered, running, finished, failed, restarting, stopped).',
    labelNames: ['cluster', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const cluster of snapshot.clusters) {
        const counts = new Map<string, number>();
        for (const node of cluster.nodes) counts.set(node.status, (counts.get(node.status) ?? 0) + 1);
        for (const [state, count] of counts) this.set({ cluster: cluster.name, state }, count);
      }
    },
  });
  /** One gauge per node; `value` undefined leaves the node out of it. */
  const nodeGauge = (
    name: string,
    help: string,
    value: (node: JobViewSnapshot['clusters'][number]['nodes'][number]) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: nodeLabels,
      registers: [registry],
      collect() {
        this.reset();
        for (const cluster of snapshot.clusters)
          for (const node of cluster.nodes) {
            const measured = value(node);
            if (measured !== undefined)
              this.set({ cluster: cluster.name, role: node.role, index: String(node.index) }, measured);
          }
      },
    });
  nodeGauge(
    'millrace_node_last_report_age_seconds',
    'Seconds since the node last reported to the AM (registration, start, metrics, end); heartbeats alone do not count.',
    (node) => Math.max(0, (snapshot.now - node.lastReportAt) / 1000),
  );
  nodeGauge(
    'millrace_node_heartbeat_age_seconds',
    'Seconds since the AM last heard from the node (a heartbeat or any other call), as of the last status read; absent until one.',
    (node) => (node.heartbeatAgeMs === undefined ? undefined : node.heartbeatAgeMs / 1000),
  );
  nodeGauge(
    'millrace_node_attempt',
    'How many times the node was started before its current attempt.',
    (node) => node.attempt,
  );
  new Gauge({
    name: 'millrace_runner_metric',
    help: 'The latest value of each metric a runner reported (step, loss, samples_per_second, ...), by name.',
    labelNames: [...nodeLabels, 'name'],
    registers: [registry],
    collect() {
      this.reset();
      for (const cluster of snapshot.clusters)
        for (const node of cluster.nodes)
          for (const [name, value] of Object.entries(node.metrics))
            if (Number.isFinite(value))
              this.set({ cluster: cluster.name, role: node.role, index: String(node.index), name }, value);
    },
  });
  nodeGauge(
    'millrace_node_throughput_vs_role_median_ratio',
    "A running node's throughput over its role's median (below 1: behind its peers).",
    (node) => node.throughputVsRoleMedian,
  );
  const operatorLabels = ['job', 'operator'] as const;
  const operatorCounter = (
    name: string,
    help: string,
    value: (operator: JobViewSnapshot['operators'][number]) => number,
  ) =>
    new Counter({
      name,
      help,
      labelNames: operatorLabels,
      registers: [registry],
      collect() {
        this.reset();
        for (const operator of snapshot.operators)
          this.inc({ job: operator.job, operator: operator.operator }, Math.max(0, value(operator)));
      },
    });
  operatorCounter('millrace_operator_records_in_total', 'Records into each operator.', (o) => o.recordsIn);
  operatorCounter(
    'millrace_operator_records_out_total',
    'Records out of each operator.',
    (o) => o.recordsOut,
  );
  operatorCounter(
    'millrace_operator_busy_seconds_total',
    'Seconds each operator spent in its own code, over all subtasks.',
    (o) => o.busyMs / 1000,
  );
  operatorCounter(
    'millrace_operator_backpressured_seconds_total',
    'Seconds each operator waited for room downstream (a full queue or ring), over all subtasks.',
    (o) => o.backpressuredMs / 1000,
  );
  new Gauge({
    name: 'millrace_operator_backpressure_ratio',
    help: 'Share of the last interval each operator spent waiting for room downstream (0..1 per subtask).',
    labelNames: operatorLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const operator of snapshot.operators)
        this.set({ job: operator.job, operator: operator.operator }, operator.backpressure);
    },
  });
  const subtaskLabels = ['job', 'operator', 'subtask'] as const;
  /** One series per operator subtask; `value` undefined leaves the subtask out. */
  const eachSubtask = (
    metric: { reset(): void },
    add: (labels: Record<(typeof subtaskLabels)[number], string>, subtask: SubtaskCounters) => void,
  ) => {
    metric.reset();
    for (const operator of snapshot.operators)
      operator.subtasks?.forEach((subtask, index) => {
        add({ job: operator.job, operator: operator.operator, subtask: String(index) }, subtask);
      });
  };
  const subtaskGauge = (
    name: string,
    help: string,
    value: (subtask: SubtaskCounters) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: subtaskLabels,
      registers: [registry],
      collect() {
        eachSubtask(this, (labels, subtask) => {
          const measured = value(subtask);
          if (measured !== undefined && Number.isFinite(measured)) this.set(labels, measured);
        });
      },
    });
  subtaskGauge(
    'millrace_operator_input_queue_fill_ratio',
    "How full each subtask's bounded input channel is (batches queued over its capacity, 0..1); at 1 its producers wait. Sources have none.",
    inputQueueFill,
  );
  new Counter({
    name: 'millrace_operator_subtask_backpressured_seconds_total',
    help: 'Seconds each subtask waited for room downstream (a full queue or ring).',
    labelNames: subtaskLabels,
    registers: [registry],
    collect() {
      eachSubtask(this, (labels, subtask) => this.inc(labels, Math.max(0, subtask.backpressuredMs / 1000)));
    },
  });
  subtaskGauge(
    'millrace_role_input_queue_fill_ratio',
    "An ML role's subtask: how full the record queue in front of its node's runner is (0..1, the largest share of its bounds); at 1 the role operator waits.",
    (subtask) => subtask.gauges?.roleInputQueueFillRatio,
  );
  subtaskGauge(
    'millrace_role_input_ring_fill_ratio',
    "An ML role's subtask whose runner reads through a shared-memory ring: how full that ring is (bytes unread over its capacity, 0..1).",
    (subtask) => subtask.gauges?.roleInputRingFillRatio,
  );
  subtaskGauge(
    'millrace_replay_buffer_records',
    "An ML role's subtask with replay on: records its replay buffer holds (unread, and read but not covered by a checkpoint).",
    (subtask) => subtask.gauges?.replayBufferRecords,
  );
  new Gauge({
    name: 'millrace_operator_gauge',
    help: 'Any other level an operator reports per subtask (SubtaskContext.gauge), by name.',
    labelNames: [...subtaskLabels, 'name'],
    registers: [registry],
    collect() {
      eachSubtask(this, (labels, subtask) => {
        for (const [name, value] of Object.entries(subtask.gauges ?? {}))
          if (!namedGauges.has(name) && Number.isFinite(value)) this.set({ ...labels, name }, value);
      });
    },
  });
  return registry;
}

/** Operator gauges exported under names of their own (the rest go to `millrace_operator_gauge`). */
const namedGauges = new Set(['roleInputQueueFillRatio', 'roleInputRingFillRatio', 'replayBufferRecords']);
