/**
 * How far a job is, where that is knowable: a bounded source (a generator with a count, an array)
 * says how many records it will emit by setting the counter {@link expectedRecordsCounter} on its
 * operator's metrics, and the job's progress is what those sources emitted of it. The CLI's
 * board, its JSON events and the dashboard all read it from the same operator metrics.
 */

/** The operator counter a bounded source adds its share of records to (this host's, on several). */
export const expectedRecordsCounter = 'expectedRecords';

export interface SourceProgress {
  /** Records the bounded sources emitted so far. */
  done: number;
  /** Records they will emit in all. */
  total: number;
}

/** The bounded sources' progress; undefined when no source is bounded (a stream that never ends). */
export function sourceProgress(
  operators: readonly { recordsOut: number; extra?: Readonly<Record<string, number>> | undefined }[],
): SourceProgress | undefined {
  let done = 0;
  let total = 0;
  let bounded = false;
  for (const operator of operators) {
    const expected = operator.extra?.[expectedRecordsCounter];
    if (expected === undefined) continue;
    bounded = true;
    total += expected;
    done += Math.min(operator.recordsOut, expected);
  }
  return bounded ? { done, total } : undefined;
}
