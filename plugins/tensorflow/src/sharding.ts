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
