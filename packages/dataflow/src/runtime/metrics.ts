/** Counters one subtask keeps while it runs; read (not reset) by the job's metrics snapshots. */
export interface SubtaskMetrics {
  recordsIn: number;
  recordsOut: number;
  /** Milliseconds spent in the operator's own code (user functions included). */
  busyMs: number;
  /** Milliseconds spent waiting for room downstream (a full channel). */
  backpressuredMs: number;
  /** Operator-specific counters, e.g. `lateRecordsDropped` for windows. */
  extra: Record<string, number>;
}

export function createSubtaskMetrics(): SubtaskMetrics {
  return { recordsIn: 0, recordsOut: 0, busyMs: 0, backpressuredMs: 0, extra: {} };
}

/** Metrics of one operator, summed over its subtasks. */
export interface OperatorMetrics {
  operator: string;
  parallelism: number;
  recordsIn: number;
  recordsOut: number;
  busyMs: number;
  backpressuredMs: number;
  extra: Readonly<Record<string, number>>;
  /** Per subtask, in subtask order. */
  subtasks: readonly Readonly<SubtaskMetrics>[];
}

export function summarize(operator: string, subtasks: readonly SubtaskMetrics[]): OperatorMetrics {
  const sum: OperatorMetrics = {
    operator,
    parallelism: subtasks.length,
    recordsIn: 0,
    recordsOut: 0,
    busyMs: 0,
    backpressuredMs: 0,
    extra: {},
    subtasks: subtasks.map((m) => ({ ...m, extra: { ...m.extra } })),
  };
  const extra: Record<string, number> = {};
  for (const m of subtasks) {
    sum.recordsIn += m.recordsIn;
    sum.recordsOut += m.recordsOut;
    sum.busyMs += m.busyMs;
    sum.backpressuredMs += m.backpressuredMs;
    for (const [name, value] of Object.entries(m.extra)) extra[name] = (extra[name] ?? 0) + value;
  }
  return { ...sum, busyMs: Math.round(sum.busyMs), backpressuredMs: Math.round(sum.backpressuredMs), extra };
}
