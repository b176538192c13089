/**
 * How a runner process started by `streamProcessRunner` acknowledges a checkpoint: one stdout
 * line `millrace:checkpointed <position>` (as `millrace:metrics {…}` lines carry metrics). Stdout
 * is used because every such runner already has it, whichever record transport the job chose,
 * and a line written before the process is killed is still read from the pipe afterwards.
 */
export const checkpointedPrefix = 'millrace:checkpointed ';

/** The line a runner prints (without the newline). */
export function checkpointedLine(position: number): string {
  return `${checkpointedPrefix}${position}`;
}

/** The position a `millrace:checkpointed N` line acknowledges, or undefined for any other line. */
export function parseCheckpointedLine(line: string): number | undefined {
  if (!line.startsWith(checkpointedPrefix)) return undefined;
  const text = line.slice(checkpointedPrefix.length).trim();
  return /^\d+$/.test(text) ? Number(text) : Number.NaN;
}
