/**
 * Where runner processes' own output lines go when nobody chose (`output: 'inherit'`, the
 * default of processRunner, streamProcessRunner and pythonRunner). Without a route they are
 * written to this process's stdout/stderr, prefixed `role[index] `. A host that owns the terminal
 * routes them instead (`millrace run` prints them above its live board, or as JSON events with
 * `--json`, so stdout stays one JSON object a line). The route lives on a `Symbol.for` key so
 * duplicated copies of this package share it.
 */
import type { RunnerContext } from '@millrace/core';

export interface RunnerOutputLine {
  role: string;
  index: number;
  stream: 'stdout' | 'stderr';
  line: string;
}

export type RunnerOutputRoute = (output: RunnerOutputLine) => void;

/** Where a runner's output lines go; `inherit` follows the route set by {@link routeRunnerOutput}. */
export type RunnerLineOutput =
  | 'inherit'
  | 'logger'
  | 'ignore'
  | ((line: string, stream: 'stdout' | 'stderr', context: RunnerContext) => void);

const routeKey = Symbol.for('millrace.runnerOutputRoute');
const routes = globalThis as { [routeKey]?: RunnerOutputRoute | undefined };

/** Routes every inherited runner output line through `route`; returns the function that undoes it. */
export function routeRunnerOutput(route: RunnerOutputRoute): () => void {
  const previous = routes[routeKey];
  routes[routeKey] = route;
  return () => {
    if (routes[routeKey] === route) routes[routeKey] = previous;
  };
}

/** The line handler for one stream of one runner, for runners that supervise a process. */
export function runnerLineSink(
  output: RunnerLineOutput,
  stream: 'stdout' | 'stderr',
  context: Pick<RunnerContext, 'role' | 'index' | 'logger'>,
): (line: string) => void {
  if (typeof output === 'function') return (line) => output(line, stream, context as RunnerContext);
  if (output === 'ignore') return () => {};
  if (output === 'logger') {
    return stream === 'stdout' ? (line) => context.logger.info(line) : (line) => context.logger.warn(line);
  }
  const prefix = `${context.role}[${context.index}] `;
  const target = stream === 'stdout' ? process.stdout : process.stderr;
  return (line) => {
    const route = routes[routeKey];
    if (route) route({ role: context.role, index: context.index, stream, line });
    else target.write(`${prefix}${line}\n`);
  };
}
