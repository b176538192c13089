/**
 * The picture of a running job that both `/metrics` and the dashboard page read: folded from the
 * events a job host already produces (cluster observations, operator metrics, job and run ends),
 * so the page and Prometheus can never disagree, and nothing here reaches into the AM or the
 * pipeline. The CLI's run events fit {@link JobViewEvent} as they are.
 */
import { type ClusterObservation, type SourceProgress, sourceProgress } from '@millrace/core';

/** Operator counters as the dataflow job reports them (summed over subtasks). */
export interface OperatorCounters {
  operator: string;
  parallelism: number;
  recordsIn: number;
  recordsOut: number;
  busyMs: number;
  backpressuredMs: number;
  /** Operator-specific counters; a bounded source's `expectedRecords` gives the job's progress. */
  extra?: Readonly<Record<string, number>> | undefined;
  /** Per subtask, in subtask order (the dataflow job's `OperatorMetrics.subtasks`). */
  subtasks?: readonly SubtaskCounters[] | undefined;
}

/** One subtask's share of the operator's metrics, with the levels of its queues. */
export interface SubtaskCounters {
  backpressuredMs: number;
  /** Batches waiting in its bounded input channel, of `inputQueueCapacity`; absent for sources. */
  inputQueuedBatches?: number | undefined;
  inputQueueCapacity?: number | undefined;
  /** Levels the operator reports: a role's `roleInputQueueFillRatio`, `roleInputRingFillRatio`, `replayBufferRecords`. */
  gauges?: Readonly<Record<string, number>> | undefined;
}

/**
 * A cluster as the AM's GetJobStatus describes it (`millrace status --json`): how a dashboard
 * that is not in the job's process (`millrace dashboard --join`) sees it, and where the real
 * heartbeat age of each node comes from.
 */
export interface ClusterStatusReport {
  state: string;
  generation: number;
  restarts: number;
  nodes: readonly {
    role: string;
    index: number;
    status: string;
    attempt: number;
    generation: number;
    host: string;
    /** Undefined while the node has not registered. */
    lastHeartbeatAgeMs: number | undefined;
    metrics: Readonly<Record<string, number>>;
  }[];
  failures: readonly { role: string; index: number; generation: number; reason: string; message: string }[];
  /** Empty while the job runs; once it ended (state finished, failed or stopped), the reason. */
  outcome: string;
}

export type JobViewEvent =
  | { type: 'cluster-observation'; cluster: string; observation: ClusterObservation }
  | {
      type: 'cluster-status';
      cluster: string;
      status: ClusterStatusReport;
      /**
       * When the status was read (epoch ms). Given when observations of the same cluster arrive
       * too (`millrace run`): a read older than the last observation then only updates heartbeat
       * ages, so it cannot undo what the observation said.
       */
      readAt?: number | undefined;
    }
  | { type: 'operator-metrics'; job: string; operators: readonly OperatorCounters[] }
  | { type: 'job-finished'; job: string; status: string; error?: string | undefined }
  | {
      type: 'run-finished';
      status: string;
      durationMs: number;
      error?: { message: string } | undefined;
    }
  /** Anything else a host reports (logs, runner output...): not part of the picture. */
  | { type: 'log' | 'runner-output' | 'job-started' | 'job-restarting' };

/** Metric names a runner reports for its throughput, first found wins. */
export const throughputMetricNames = [
  'samples_per_second',
  'records_per_second',
  'examples_per_second',
  'throughput',
] as const;

/** How many points each node's chart keeps (oldest dropped). */
const historyLimit = 600;
/** How many restarts the timeline keeps. */
const timelineLimit = 200;

export interface NodeView {
  role: string;
  index: number;
  /** pending, registered, running, finished, failed, restarting, stopped. */
  status: string;
  attempt: number;
  generation: number;
  host: string;
  /** Epoch ms of the node's last report (registration, start, metrics, end). */
  lastReportAt: number;
  /** Milliseconds since the AM last heard from the node (any call), as of the last status read; unknown before one. */
  heartbeatAgeMs: number | undefined;
  metrics: Record<string, number>;
  /** The node's throughput (samples/s or the like) when it reports one. */
  throughput: number | undefined;
  /** Throughput over the median of its role's nodes that report one (1 = typical, < 1 = behind). */
  throughputVsRoleMedian: number | undefined;
  /** [epoch ms, throughput or null, loss or null] per metrics report, oldest first. */
  history: [number, number | null, number | null][];
  /** Why it last failed, when it did. */
  lastFailure: string | undefined;
}

export interface RestartView {
  at: number;
  cluster: string;
  generation: number;
  policy: string;
  /** The failure that caused it: `exited`, `heartbeat-missed`, `stalled`... */
  reason: string;
  message: string;
  nodes: string[];
}

export interface ClusterView {
  name: string;
  state: string;
  generation: number;
  restarts: number;
  restartsByReason: Record<string, number>;
  nodes: NodeView[];
  outcome: { status: string; reason: string } | undefined;
}

export interface OperatorView extends OperatorCounters {
  job: string;
  recordsInPerSecond: number;
  recordsOutPerSecond: number;
  /** Share of the last interval the operator spent waiting for room downstream (0..1, per subtask). */
  backpressure: number;
  /** How full the fullest subtask's input channel is (0..1); undefined for sources. */
  inputQueueFill: number | undefined;
  /** For an ML role: how full the fullest node's record queue in front of its runner is (0..1). */
  roleQueueFill: number | undefined;
  /** For an ML role whose runners read through shared-memory rings: the fullest node's ring (0..1). */
  roleRingFill: number | undefined;
}

/** A subtask's input channel fill (0..1), when it has one. */
export function inputQueueFill(subtask: SubtaskCounters): number | undefined {
  const { inputQueuedBatches: queued, inputQueueCapacity: capacity } = subtask;
  if (queued === undefined || capacity === undefined || capacity <= 0) return undefined;
  return Math.min(1, Math.max(0, queued / capacity));
}

/** The largest value of the gauge `name` over the operator's subtasks; undefined when none reports it. */
function fullestGauge(operator: OperatorCounters, name: string): number | undefined {
  return fullest(operator.subtasks?.map((subtask) => subtask.gauges?.[name]) ?? []);
}

/** The largest of the values that are there; undefined when none is. */
function fullest(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((value): value is number => value !== undefined && Number.isFinite(value));
  return present.length > 0 ? Math.max(...present) : undefined;
}

export interface JobViewSnapshot {
  startedAt: number;
  now: number;
  clusters: ClusterView[];
  operators: OperatorView[];
  restarts: RestartView[];
  /** The bounded sources' records emitted of their total; undefined when no source is bounded. */
  progress: SourceProgress | undefined;
  outcome: { status: string; durationMs: number; error: string | undefined } | undefined;
}

interface ClusterEntry {
  view: ClusterView;
  nodes: Map<string, NodeView>;
  lastFailure: { reason: string; message: string } | undefined;
  /** When the last observation of the cluster was applied (epoch ms; 0 before one). */
  observedAt: number;
  /** Generations whose restart was counted (by an observation or a status read, whichever came first). */
  restartedInto: Set<number>;
}

export class JobView {
  readonly startedAt: number;
  readonly #clusters = new Map<string, ClusterEntry>();
  readonly #operators = new Map<string, OperatorView & { sampledAt: number }>();
  readonly #restarts: RestartView[] = [];
  readonly #listeners = new Set<() => void>();
  readonly #now: () => number;
  #outcome: JobViewSnapshot['outcome'];
  #finishedAt: number | undefined;
  #version = 0;

  constructor(options: { now?: (() => number) | undefined; startedAt?: number | undefined } = {}) {
    this.#now = options.now ?? Date.now;
    this.startedAt = options.startedAt ?? this.#now();
  }

  /** Calls `listener` after every event that changed the view; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Grows by one at every change; lets a server tell whether a client has seen the latest. */
  get version(): number {
    return this.#version;
  }

  /** The job's duration so far (or in total, once it finished), in seconds. */
  get durationSeconds(): number {
    return ((this.#finishedAt ?? this.#now()) - this.startedAt) / 1000;
  }

  apply(event: JobViewEvent): void {
    switch (event.type) {
      case 'cluster-observation':
        this.#applyObservation(event.cluster, event.observation);
        break;
      case 'cluster-status':
        this.#applyStatus(event.cluster, event.status, event.readAt);
        break;
      case 'operator-metrics':
        this.#applyOperators(event.job, event.operators);
        break;
      case 'run-finished':
        this.#finishedAt ??= this.#now();
        this.#outcome = { status: event.status, durationMs: event.durationMs, error: event.error?.message };
        break;
      default:
        return;
    }
    this.#version += 1;
    for (const listener of this.#listeners) listener();
  }

  snapshot(): JobViewSnapshot {
    const clusters = [...this.#clusters.values()].map((entry) => {
      const nodes = [...entry.nodes.values()].sort(
        (a, b) => a.role.localeCompare(b.role) || a.index - b.index,
      );
      markStragglers(nodes);
      return { ...entry.view, restartsByReason: { ...entry.view.restartsByReason }, nodes };
    });
    const operators = [...this.#operators.values()].map(({ sampledAt: _, ...operator }) => operator);
    return {
      startedAt: this.startedAt,
      now: this.#now(),
      clusters,
      operators,
      restarts: [...this.#restarts],
      progress: sourceProgress(operators),
      outcome: this.#outcome,
    };
  }

  #cluster(name: string): ClusterEntry {
    let entry = this.#clusters.get(name);
    if (!entry) {
      entry = {
        view: {
          name,
          state: 'initializing',
          generation: 0,
          restarts: 0,
          restartsByReason: {},
          nodes: [],
          outcome: undefined,
        },
        nodes: new Map(),
        lastFailure: undefined,
        observedAt: 0,
        restartedInto: new Set(),
      };
      this.#clusters.set(name, entry);
    }
    return entry;
  }

  #node(entry: ClusterEntry, role: string, index: number): NodeView {
    const key = `${role}:${index}`;
    let node = entry.nodes.get(key);
    if (!node) {
      node = {
        role,
        index,
        status: 'pending',
        attempt: 0,
        generation: 0,
        host: '',
        lastReportAt: this.#now(),
        heartbeatAgeMs: undefined,
        metrics: {},
        throughput: undefined,
        throughputVsRoleMedian: undefined,
        history: [],
        lastFailure: undefined,
      };
      entry.nodes.set(key, node);
    }
    return node;
  }

  #applyObservation(clusterName: string, observation: ClusterObservation): void {
    const entry = this.#cluster(clusterName);
    const cluster = entry.view;
    const now = this.#now();
    entry.observedAt = now;
    const touch = (role: string, index: number) => {
      const node = this.#node(entry, role, index);
      node.lastReportAt = now;
      return node;
    };
    switch (observation.type) {
      case 'state-changed':
        cluster.state = observation.state;
        cluster.generation = observation.generation;
        break;
      case 'node-registered': {
        const node = touch(observation.role, observation.index);
        node.status = 'registered';
        node.generation = observation.generation;
        break;
      }
      case 'cluster-ready':
        for (const specs of Object.values(observation.spec.roles)) {
          for (const spec of specs) {
            const node = this.#node(entry, spec.role, spec.index);
            if (spec.host) node.host = spec.host;
          }
        }
        break;
      case 'node-started': {
        const node = touch(observation.role, observation.index);
        node.status = 'running';
        node.attempt = observation.attempt;
        node.generation = observation.generation;
        break;
      }
      case 'node-metrics': {
        recordMetrics(touch(observation.role, observation.index), observation.metrics, now);
        break;
      }
      case 'node-finished':
        touch(observation.role, observation.index).status = 'finished';
        break;
      case 'node-failed': {
        const { failure } = observation;
        const node = touch(failure.role, failure.index);
        node.status = 'failed';
        node.lastFailure = `${failure.reason}: ${failure.message}`;
        entry.lastFailure = { reason: failure.reason, message: failure.message };
        break;
      }
      case 'generation-started': {
        cluster.generation = observation.generation;
        const reason = entry.lastFailure?.reason ?? 'unknown';
        const restart: RestartView = {
          at: now,
          cluster: clusterName,
          generation: observation.generation,
          policy: observation.policy,
          reason,
          message: entry.lastFailure?.message ?? '',
          nodes: observation.restarting.map((key) => {
            const at = key.lastIndexOf(':');
            return `${key.slice(0, at)}[${key.slice(at + 1)}]`;
          }),
        };
        // A status read may have counted this restart already: then its entry gets the details.
        const counted = this.#restarts.findIndex(
          (seen) => seen.cluster === clusterName && seen.generation === observation.generation,
        );
        if (counted >= 0) this.#restarts[counted] = { ...restart, at: this.#restarts[counted]!.at };
        else this.#countRestart(entry, restart);
        for (const key of observation.restarting) {
          const at = key.lastIndexOf(':');
          touch(key.slice(0, at), Number(key.slice(at + 1))).status = 'restarting';
        }
        break;
      }
      case 'job-finished': {
        const { outcome } = observation;
        cluster.state = outcome.status;
        cluster.outcome = { status: outcome.status, reason: outcome.reason };
        // Nodes still shown as running when the cluster ended did not fail: they were stopped
        // (serving roles) or finished; the board must agree with the outcome.
        for (const node of entry.nodes.values()) {
          if (node.status === 'running' || node.status === 'registered' || node.status === 'pending')
            node.status = outcome.status === 'succeeded' ? 'stopped' : outcome.status;
        }
        break;
      }
    }
  }

  /** Counts one restart of the cluster (once per generation) and adds it to the timeline. */
  #countRestart(entry: ClusterEntry, restart: RestartView): void {
    if (entry.restartedInto.has(restart.generation)) return;
    entry.restartedInto.add(restart.generation);
    entry.view.restarts += 1;
    entry.view.restartsByReason[restart.reason] = (entry.view.restartsByReason[restart.reason] ?? 0) + 1;
    this.#restarts.push(restart);
    if (this.#restarts.length > timelineLimit) this.#restarts.shift();
  }

  /**
   * Folds a status read into the view: states, attempts, hosts, metrics and heartbeat ages are
   * taken as they are; a restart the view has not seen yet joins the timeline with the newest
   * failure as its reason (a status read does not say which nodes restarted, so none are named).
   * A read made before the cluster's last observation (`readAt`) only updates heartbeat ages.
   */
  #applyStatus(clusterName: string, status: ClusterStatusReport, readAt: number | undefined): void {
    const entry = this.#cluster(clusterName);
    const cluster = entry.view;
    const now = this.#now();
    for (const reported of status.nodes)
      this.#node(entry, reported.role, reported.index).heartbeatAgeMs = reported.lastHeartbeatAgeMs;
    if (readAt !== undefined && readAt < entry.observedAt) return;
    cluster.state = status.state;
    cluster.generation = status.generation;
    const latestFailure = status.failures.at(-1);
    if (latestFailure) entry.lastFailure = { reason: latestFailure.reason, message: latestFailure.message };
    // Every restart moves the cluster one generation on: the ones missing are the latest ones.
    const missing = status.restarts - cluster.restarts;
    for (let back = missing - 1; back >= 0; back--)
      this.#countRestart(entry, {
        at: now,
        cluster: clusterName,
        generation: status.generation - back,
        policy: 'restart',
        reason: entry.lastFailure?.reason ?? 'unknown',
        message: entry.lastFailure?.message ?? '',
        nodes: [],
      });
    for (const reported of status.nodes) {
      const node = this.#node(entry, reported.role, reported.index);
      const metricsChanged = Object.entries(reported.metrics).some(
        ([name, value]) => node.metrics[name] !== value,
      );
      node.status = reported.status;
      node.attempt = reported.attempt;
      node.generation = reported.generation;
      if (reported.host) node.host = reported.host;
      const failure = status.failures.findLast(
        (candidate) => candidate.role === reported.role && candidate.index === reported.index,
      );
      if (failure) node.lastFailure = `${failure.reason}: ${failure.message}`;
      if (!metricsChanged) continue;
      node.lastReportAt = now;
      recordMetrics(node, reported.metrics, now);
    }
    if (status.outcome) {
      // The AM's terminal states are finished, failed and stopped; the outcome text is the reason.
      const outcome = {
        status: status.state === 'finished' ? 'succeeded' : status.state,
        reason: status.outcome,
      };
      cluster.state = outcome.status;
      cluster.outcome = outcome;
    }
  }

  #applyOperators(job: string, operators: readonly OperatorCounters[]): void {
    const now = this.#now();
    for (const operator of operators) {
      const key = `${job}/${operator.operator}`;
      const previous = this.#operators.get(key);
      const seconds = previous ? (now - previous.sampledAt) / 1000 : 0;
      const rate = (current: number, before: number | undefined) =>
        seconds > 0 && before !== undefined ? Math.max(0, (current - before) / seconds) : 0;
      const backpressure =
        seconds > 0 && previous
          ? Math.min(
              1,
              Math.max(0, operator.backpressuredMs - previous.backpressuredMs) /
                (seconds * 1000 * Math.max(1, operator.parallelism)),
            )
          : 0;
      this.#operators.set(key, {
        job,
        operator: operator.operator,
        parallelism: operator.parallelism,
        recordsIn: operator.recordsIn,
        recordsOut: operator.recordsOut,
        busyMs: operator.busyMs,
        backpressuredMs: operator.backpressuredMs,
        extra: operator.extra,
        subtasks: operator.subtasks?.map((subtask) => ({
          backpressuredMs: subtask.backpressuredMs,
          inputQueuedBatches: subtask.inputQueuedBatches,
          inputQueueCapacity: subtask.inputQueueCapacity,
          gauges: subtask.gauges,
        })),
        inputQueueFill: fullest(operator.subtasks?.map(inputQueueFill) ?? []),
        roleQueueFill: fullestGauge(operator, 'roleInputQueueFillRatio'),
        roleRingFill: fullestGauge(operator, 'roleInputRingFillRatio'),
        recordsInPerSecond: rate(operator.recordsIn, previous?.recordsIn),
        recordsOutPerSecond: rate(operator.recordsOut, previous?.recordsOut),
        backpressure,
        sampledAt: now,
      });
    }
  }
}

/** A metrics report: the latest values, and a point in the throughput/loss history when it has one. */
function recordMetrics(node: NodeView, metrics: Readonly<Record<string, number>>, now: number): void {
  Object.assign(node.metrics, metrics);
  const throughputName = throughputMetricNames.find((name) => name in metrics);
  if (throughputName) node.throughput = metrics[throughputName];
  const loss = metrics.loss;
  if (throughputName || loss !== undefined) {
    node.history.push([now, throughputName ? node.throughput! : null, loss ?? null]);
    if (node.history.length > historyLimit) node.history.shift();
  }
}

/** Each node's throughput against the median of its role (only nodes that report one count). */
function markStragglers(nodes: NodeView[]): void {
  const byRole = new Map<string, number[]>();
  for (const node of nodes) {
    if (node.throughput === undefined || node.status !== 'running') continue;
    const values = byRole.get(node.role) ?? [];
    values.push(node.throughput);
    byRole.set(node.role, values);
  }
  for (const node of nodes) {
    const values = byRole.get(node.role);
    const median = values && values.length > 0 ? medianOf(values) : undefined;
    node.throughputVsRoleMedian =
      median && node.throughput !== undefined && node.status === 'running'
        ? node.throughput / median
        : undefined;
  }
}

export function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
