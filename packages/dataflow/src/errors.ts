import { MillraceError } from '@millrace/core';

const maxRecordPreview = 120;

/** A short, single-line preview of a record for error messages (never the whole record). */
export function previewRecord(record: unknown): string {
  let text: string;
  try {
    text =
      typeof record === 'string'
        ? JSON.stringify(record)
        : typeof record === 'bigint'
          ? `${record}n`
          : record instanceof Uint8Array
            ? `<${record.byteLength} bytes>`
            : (JSON.stringify(record) ?? String(record));
  } catch {
    text = String(record);
  }
  text = text.replace(/\s+/g, ' ');
  return text.length > maxRecordPreview ? `${text.slice(0, maxRecordPreview)}…` : text;
}

/**
 * A user function or operator threw while the job ran. The message names the operator, the
 * subtask and (shortened) the record being processed, so the failing input can be found.
 */
export class OperatorError extends MillraceError {
  readonly operator: string;
  readonly subtask: number;
  readonly parallelism: number;
  /** A shortened preview of the record, when the failure happened on one. */
  readonly record: string | undefined;

  constructor(
    details: {
      operator: string;
      subtask: number;
      parallelism: number;
      record?: string | undefined;
      message: string;
    },
    options: { cause?: unknown } = {},
  ) {
    const on = details.record === undefined ? '' : ` on record ${details.record}`;
    super(
      'OPERATOR_FAILED',
      `Operator '${details.operator}' (subtask ${details.subtask + 1}/${details.parallelism}) failed${on}: ${details.message}`,
      options,
    );
    this.name = 'OperatorError';
    this.operator = details.operator;
    this.subtask = details.subtask;
    this.parallelism = details.parallelism;
    this.record = details.record;
  }
}

/**
 * Thrown inside built-in operators to say which record a user function failed on; the subtask
 * runner turns it into an {@link OperatorError}. Internal.
 */
export class RecordFailure extends Error {
  readonly record: unknown;

  constructor(record: unknown, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.record = record;
  }
}
