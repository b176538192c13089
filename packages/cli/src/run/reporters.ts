/**
 * The three ways `millrace run` reports: `--json` (one JSON event a line), plain lines (not a
 * TTY: CI logs, pipes), and a live view that redraws in place on a TTY. Each writes progress to
 * its output and the failure that ended a run to `errors` (stderr), where scripts look for it.
 */

import type { SourceProgress } from '@millrace/core';
import type { OperatorMetrics } from '@millrace/dataflow';
import { describeObservation, observationToJson } from '../observation-text.js';
import { ClusterBoard, formatMetrics, humanNumber } from './cluster-board.js';
import type { BoardEvent, RunReporter } from './run-events.js';

/** Where a reporter writes: a stream, or the board thread's direct writes to a file descriptor. */
export interface ReporterOutput {
  write(text: string): unknown;
  columns?: number | undefined;
}
type Output = ReporterOutput;

/** The error that ended a run, for stderr; undefined when the run did not fail. */
function runFailureText(event: BoardEvent): string | undefined {
  if (event.type !== 'run-finished' || !event.error) return undefined;
  return `millrace: ${event.error.message}\n`;
}

export function jsonReporter(output: Output, errors: Output = output): RunReporter {
  return {
    event(event, at = Date.now()) {
      const failure = runFailureText(event);
      if (failure && errors !== output) errors.write(failure);
      const value =
        event.type === 'cluster-observation'
          ? { ...event, observation: observationToJson(event.observation) }
          : event;
      output.write(`${JSON.stringify({ ...value, time: new Date(at).toISOString() })}\n`);
    },
    close() {},
  };
}

/** The line a human reads for an event; undefined for events shown only in the live view. */
export function describeRunEvent(event: BoardEvent): string | undefined {
  switch (event.type) {
    case 'heartbeat':
      return undefined;
    case 'log':
      return event.message;
    case 'runner-output':
      return `${event.role}[${event.index}] ${event.line}`;
    case 'cluster-observation': {
      const text = describeObservation(event.observation);
      return text && `[${event.cluster}] ${text}`;
    }
    case 'operator-metrics':
      return undefined;
    case 'job-started':
      return `[${event.job}] started (attempt ${event.attempt})`;
    case 'job-restarting':
      return `[${event.job}] restarting in ${event.delayMs} ms (attempt ${event.attempt}): ${event.reason}`;
    case 'job-finished':
      return `[${event.job}] ${event.status}${event.error ? `: ${event.error}` : ''}`;
    case 'run-finished':
      return `run ${event.status} in ${(event.durationMs / 1000).toFixed(1)} s`;
  }
}

/**
 * `  queue 50% · runner queue 100% · ring 80%`: the fullest subtask's input queue and, for an ML
 * role, the fullest node's record queue and ring; empty when the operator reports none.
 */
export function queueFills(operator: OperatorMetrics): string {
  const fullest = (values: (number | undefined)[]) => {
    const present = values.filter((value): value is number => value !== undefined && Number.isFinite(value));
    return present.length > 0 ? Math.max(...present) : undefined;
  };
  const parts = (
    [
      [
        'queue',
        fullest(
          operator.subtasks.map((subtask) =>
            subtask.inputQueueCapacity
              ? (subtask.inputQueuedBatches ?? 0) / subtask.inputQueueCapacity
              : undefined,
          ),
        ),
      ],
      ['runner queue', fullest(operator.subtasks.map((subtask) => subtask.gauges.roleInputQueueFillRatio))],
      ['ring', fullest(operator.subtasks.map((subtask) => subtask.gauges.roleInputRingFillRatio))],
    ] as const
  ).flatMap(([name, fill]) => (fill === undefined ? [] : [`${name} ${Math.round(fill * 100)}%`]));
  return parts.length > 0 ? `  ${parts.join(' · ')}` : '';
}

/** `14:03:07` — the time of day plain lines start with. */
function clock(at = Date.now()): string {
  return new Date(at).toTimeString().slice(0, 8);
}

/** `job flagship: 45% of the source records (36.0k of 80.0k)`. */
export function progressLine(job: string, progress: SourceProgress): string {
  const percent = progress.total > 0 ? Math.floor((progress.done / progress.total) * 100) : 100;
  return `job ${job}: ${percent}% of the source records (${humanNumber(progress.done)} of ${humanNumber(progress.total)})`;
}

export function plainReporter(output: Output, errors: Output = output): RunReporter {
  const lastMetrics = new Map<string, number>();
  let lastProgressAt = 0;
  let sourcesDone = false;
  return {
    event(event, at = Date.now()) {
      if (event.type === 'job-started') sourcesDone = false;
      // Progress as a line at most every 5 s, and once more when the sources are done.
      if (event.type === 'operator-metrics' && event.progress && !sourcesDone) {
        const now = Date.now();
        sourcesDone = event.progress.done === event.progress.total;
        if (sourcesDone || now - lastProgressAt >= 5_000) {
          lastProgressAt = now;
          output.write(`${clock(at)} ${progressLine(event.job, event.progress)}\n`);
        }
      }
      const line = describeRunEvent(event);
      // A runner's own lines are printed as they are; Millrace's lines carry the time.
      if (line) output.write(event.type === 'runner-output' ? `${line}\n` : `${clock(at)} ${line}\n`);
      const failure = runFailureText(event);
      if (failure) errors.write(failure);
      // Metrics as a line at most every 2 s per node, so logs stay readable.
      if (event.type === 'cluster-observation' && event.observation.type === 'node-metrics') {
        const { role, index, metrics } = event.observation;
        const key = `${event.cluster}/${role}[${index}]`;
        const now = Date.now();
        if (now - (lastMetrics.get(key) ?? 0) >= 2_000) {
          lastMetrics.set(key, now);
          output.write(`${clock(at)} [${event.cluster}] ${role}[${index}] ${formatMetrics(metrics)}\n`);
        }
      }
    },
    close() {},
  };
}

/**
 * Log lines scroll above a block that redraws in place every 200 ms: the run's elapsed time, each
 * cluster and its nodes, the pipeline's operators.
 */
export function liveReporter(
  output: Output,
  errors: Output = output,
  options: { startedAt?: number | undefined } = {},
): RunReporter {
  const startedAt = options.startedAt ?? Date.now();
  const board = new ClusterBoard();
  let busyMs: number | undefined;
  let finished = false;
  let operators: string[] = [];
  let drawn = 0;
  let dirty = true;
  const clear = () => {
    if (drawn > 0) output.write(`\x1b[${drawn}A\x1b[0J`);
    drawn = 0;
  };
  const draw = () => {
    if (!dirty) return;
    dirty = false;
    clear();
    const width = output.columns && output.columns > 20 ? output.columns : 120;
    const elapsed = `millrace run · ${((Date.now() - startedAt) / 1000).toFixed(1)} s${
      busyMs !== undefined && !finished ? ` · the job's thread is busy (${(busyMs / 1000).toFixed(1)} s)` : ''
    }`;
    const lines = [elapsed, ...board.render(), ...operators].map((line) => line.slice(0, width - 1));
    if (lines.length) output.write(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const timer = setInterval(draw, 200);
  timer.unref();
  return {
    event(event, at = Date.now()) {
      if (event.type === 'cluster-observation') board.apply(event.cluster, event.observation);
      // Any event but a heartbeat comes from the job's thread: it is not busy any more.
      if (event.type !== 'heartbeat') busyMs = undefined;
      if (event.type === 'heartbeat') {
        busyMs = event.jobThreadBusyMs;
        for (const { cluster, status, readAt } of event.clusters)
          board.applyStatus(cluster, status, Date.parse(readAt));
      }
      if (event.type === 'run-finished') finished = true;
      if (event.type === 'operator-metrics') {
        operators = event.operators.map(
          (operator) =>
            `  ${operator.operator.padEnd(20)} ×${operator.parallelism}  in ${humanNumber(operator.recordsIn)}  out ${humanNumber(operator.recordsOut)}${queueFills(operator)}`,
        );
        if (operators.length)
          operators.unshift(
            event.progress ? `${progressLine(event.job, event.progress)}:` : `job ${event.job}:`,
          );
      }
      dirty = true;
      const line = describeRunEvent(event);
      if (line) {
        // Above the board, never erased: the board is cleared, the line printed, the board redrawn.
        clear();
        output.write(event.type === 'runner-output' ? `${line}\n` : `${clock(at)} ${line}\n`);
        dirty = true;
      }
      const failure = runFailureText(event);
      if (failure) {
        clear();
        errors.write(failure);
        dirty = true;
      }
    },
    close() {
      clearInterval(timer);
      dirty = true;
      draw();
    },
  };
}
