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
  /** Operator-specific levels, read when a snapshot is taken (`SubtaskContext.gauge`). */
  gauges: Record<string, () => number>;
}

/** A subtask's metrics as a snapshot carries them: plain numbers. */
export interface SubtaskSnapshot {
  recordsIn: number;
  recordsOut: number;
  busyMs: number;
  backpressuredMs: number;
  extra: Record<string, number>;
  /** Operator-specific levels as read when the snapshot was taken (e.g. a role's queue fill). */
  gauges: Record<string, number>;
  /**
   * Batches waiting in the subtask's bounded input channel, and how many it holds before its
   * producers wait (backpressure); absent for sources, which have no input channel.
   */
  inputQueuedBatches?: number | undefined;
  inputQueueCapacity?: number | undefined;
}

export function createSubtaskMetrics(): SubtaskMetrics {
  return { recordsIn: 0, recordsOut: 0, busyMs: 0, backpressuredMs: 0, extra: {}, gauges: {} };
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
  subtasks: readonly Readonly<SubtaskSnapshot>[];
}

/** What `summarize` needs of a subtask's input channel. */
interface QueueLevel {
  readonly queuedBatches: number;
  readonly capacity: number;
}

export function summarize(
  operator: string,
  subtasks: readonly SubtaskMetrics[],
  inputs?: readonly QueueLevel[] | undefined,
): OperatorMetrics {
  const sum: OperatorMetrics = {
    operator,
    parallelism: subtasks.length,
    recordsIn: 0,
    recordsOut: 0,
    busyMs: 0,
    backpressuredMs: 0,
    extra: {},
    subtasks: subtasks.map(({ gauges, ...m }, index) => {
      const input = inputs?.[index];
      return {
        ...m,
        extra: { ...m.extra },
        gauges: readGauges(gauges),
        ...(input ? { inputQueuedBatches: input.queuedBatches, inputQueueCapacity: input.capacity } : {}),
      };
    }),
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

/** Reads every gauge; one whose reader throws or gives no number (its object closed) is left out. */
function readGauges(gauges: Readonly<Record<string, () => number>>): Record<string, number> {
  const values: Record<string, number> = {};
  for (const [name, read] of Object.entries(gauges)) {
    try {
      const value = read();
      if (Number.isFinite(value)) values[name] = value;
    } catch {
      // left out
    }
  }
  return values;
}
