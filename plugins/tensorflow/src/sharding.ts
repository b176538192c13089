/**
 * Which parameter server holds which variable. Every node computes the same assignment from the
 * variables' shapes alone (greedy: largest variable first, onto the least-loaded shard), so
 * workers and parameter servers agree without talking about it.
 */
export interface VariableShape {
  shape: readonly number[];
}

export function variableSize(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

/** For each shard, the indices (into `variables`) it holds, ascending. */
export function shardVariables(variables: readonly VariableShape[], shards: number): number[][] {
  const assignment: number[][] = Array.from({ length: shards }, () => []);
  const load = new Array<number>(shards).fill(0);
  const bySize = variables
    .map((variable, index) => ({ index, size: variableSize(variable.shape) }))
    .sort((a, b) => b.size - a.size || a.index - b.index);
  for (const { index, size } of bySize) {
    let target = 0;
    for (let shard = 1; shard < shards; shard++) if (load[shard]! < load[target]!) target = shard;
    assignment[target]!.push(index);
    load[target]! += size;
  }
  return assignment.map((indices) => indices.sort((a, b) => a - b));
}

/** A short description of the variables' shapes both sides compare at HELLO. */
export function shapeFingerprint(variables: readonly { shape: readonly (number | null)[] }[]): string {
  return variables.map((variable) => `[${variable.shape.join('x')}]`).join(',');
}

/**
 * The rows `[start, end)` of a `rows`-row table that `shard` of `shards` holds: contiguous,
 * nearly equal ranges in shard order, so a row's shard follows from its id alone.
 */
export function rowRange(rows: number, shards: number, shard: number): { start: number; end: number } {
  return { start: Math.floor((rows * shard) / shards), end: Math.floor((rows * (shard + 1)) / shards) };
}

/** The shard of `shards` whose {@link rowRange} holds `row`. */
export function shardOfRow(rows: number, shards: number, row: number): number {
  // floor(rows·s/shards) <= row  <=>  s <= (row·shards + shards − 1) / rows, rounded down.
  return Math.min(shards - 1, Math.floor(((row + 1) * shards - 1) / rows));
}
