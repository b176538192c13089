import type { OperatorMetrics } from '@millrace/dataflow';
import { describe, expect, it } from 'vitest';
import { jsonReporter, queueFills } from './reporters.js';

const subtask = {
  recordsIn: 0,
  recordsOut: 0,
  busyMs: 0,
  backpressuredMs: 0,
  extra: {},
  gauges: {},
};

function operator(subtasks: OperatorMetrics['subtasks']): OperatorMetrics {
  return {
    operator: 'train-worker',
    parallelism: subtasks.length,
    recordsIn: 0,
    recordsOut: 0,
    busyMs: 0,
    backpressuredMs: 0,
    extra: {},
    subtasks,
  };
}

describe('reporters', () => {
  it("show an operator's fullest input queue and, for an ML role, its fullest runner queue and ring", () => {
    expect(
      queueFills(
        operator([
          {
            ...subtask,
            inputQueuedBatches: 1,
            inputQueueCapacity: 4,
            gauges: { roleInputQueueFillRatio: 1, roleInputRingFillRatio: 0.5 },
          },
          {
            ...subtask,
            inputQueuedBatches: 2,
            inputQueueCapacity: 4,
            gauges: { roleInputQueueFillRatio: 0.2 },
          },
        ]),
      ),
    ).toBe('  queue 50% · runner queue 100% · ring 50%');
    // A source has no input queue and reports no gauge: nothing to show.
    expect(queueFills(operator([subtask]))).toBe('');
  });

  it('--json: each event carries the time it happened, heartbeats as they are', () => {
    let written = '';
    const reporter = jsonReporter({
      write: (text: string) => {
        written += text;
      },
    });
    const at = Date.parse('2026-01-02T03:04:05.678Z');
    reporter.event({ type: 'log', message: 'hello' }, at);
    reporter.event({ type: 'heartbeat', elapsedMs: 1_000, jobThreadBusyMs: 1_200, clusters: [] }, at + 1_000);
    expect(
      written
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { type: 'log', message: 'hello', time: '2026-01-02T03:04:05.678Z' },
      {
        type: 'heartbeat',
        elapsedMs: 1_000,
        jobThreadBusyMs: 1_200,
        clusters: [],
        time: '2026-01-02T03:04:06.678Z',
      },
    ]);
  });
});
