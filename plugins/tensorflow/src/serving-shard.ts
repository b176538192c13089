/**
 * One parameter server's share of a saved model for prediction: its rows of the embedding table
 * and its dense variables, read straight from the weights files by byte range. The whole table is
 * never in this process, so a table larger than one process's share is served.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from './model-io.js';
import { type PlannedVariable, type ServingPlan, shardRows } from './serving-plan.js';
import { variableSize } from './sharding.js';

export interface ServingShard {
  /** The table rows `[rowStart, rowEnd)` this shard holds. */
  rowStart: number;
  rowEnd: number;
  /** `(rowEnd − rowStart) × dim` values. */
  rows: Float32Array;
  /** This shard's dense variables, concatenated in `plan.denseByShard[shard]` order. */
  dense: Float32Array;
}

/** Reads `shard`'s share of the model `plan` describes. */
export function loadServingShard(plan: ServingPlan, shard: number): ServingShard {
  const weights = new WeightFiles(plan.directory, plan.weightFiles);
  try {
    const { start, end } = shardRows(plan, shard);
    const dim = plan.table?.dim ?? 0;
    const rows = new Float32Array((end - start) * dim);
    if (plan.table) weights.read(plan.table.byteOffset + start * dim * 4, rows);
    const mine: PlannedVariable[] = plan.denseByShard[shard]!.map((index) => plan.dense[index]!);
    const dense = new Float32Array(mine.reduce((sum, variable) => sum + variableSize(variable.shape), 0));
    let offset = 0;
    for (const variable of mine) {
      const size = variableSize(variable.shape);
      weights.read(variable.byteOffset, dense.subarray(offset, offset + size));
      offset += size;
    }
    return { rowStart: start, rowEnd: end, rows, dense };
  } finally {
    weights.close();
  }
}

/** The weights files of a model directory as one byte range, read piecewise. */
class WeightFiles {
  readonly #directory: string;
  readonly #files: { path: string; fd: number; start: number; size: number }[] = [];

  constructor(directory: string, paths: readonly string[]) {
    this.#directory = directory;
    let start = 0;
    try {
      for (const path of paths) {
        const fd = openSync(join(directory, path), 'r');
        const size = fstatSync(fd).size;
        this.#files.push({ path, fd, start, size });
        start += size;
      }
    } catch (cause) {
      this.close();
      throw new ModelLoadError(
        directory,
        `a weights file is missing (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
        { cause },
      );
    }
  }

  /** Fills `target` with the float32 values at `byteOffset` of the concatenated files. */
  read(byteOffset: number, target: Float32Array): void {
    const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    let done = 0;
    while (done < bytes.byteLength) {
      const at = byteOffset + done;
      const file = this.#files.find(
        (candidate) => at >= candidate.start && at < candidate.start + candidate.size,
      );
      if (!file) {
        throw new ModelLoadError(
          this.#directory,
          `the weights end before byte ${at}; the files are truncated or do not match model.json`,
        );
      }
      const length = Math.min(bytes.byteLength - done, file.start + file.size - at);
      const read = readSync(file.fd, bytes, done, length, at - file.start);
      if (read <= 0)
        throw new ModelLoadError(this.#directory, `could not read ${file.path} at byte ${at - file.start}`);
      done += read;
    }
  }

  close(): void {
    for (const file of this.#files.splice(0)) closeSync(file.fd);
  }
}
