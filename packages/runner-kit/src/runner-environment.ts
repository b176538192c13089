/**
 * What every runner process gets from Millrace, whoever spawns it (runtime's processRunner, the
 * Python host, an engine's trainer): the Millrace environment variables, and the stdout line
 * format that reports metrics.
 */
import type { RunnerContext } from '@millrace/core';

const metricsPrefix = 'millrace:metrics ';

/** The environment Millrace gives every runner process (without `process.env`). */
export function millraceEnvironment(context: RunnerContext): Record<string, string> {
  const environment: Record<string, string> = {
    ...context.environment,
    MILLRACE_JOB_NAME: context.jobName,
    MILLRACE_ROLE: context.role,
    MILLRACE_INDEX: String(context.index),
    MILLRACE_GENERATION: String(context.generation),
    MILLRACE_ATTEMPT: String(context.attempt),
    MILLRACE_CHECKPOINT_DIR: context.checkpointDirectory,
    MILLRACE_RESUME_POSITION: String(context.resumePosition ?? 0),
    MILLRACE_CLUSTER_SPEC: JSON.stringify(context.clusterSpec),
  };
  for (const [name, port] of Object.entries(context.reservedPorts)) {
    environment[`MILLRACE_PORT_${environmentName(name)}`] = String(port);
  }
  return environment;
}

/** `MILLRACE_PORT_<NAME>` spelling of a port name. */
export function environmentName(portName: string): string {
  return portName.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Parses a `millrace:metrics {...}` line; undefined when the line is not one. */
export function parseMetricsLine(line: string): Record<string, number> | undefined {
  if (!line.startsWith(metricsPrefix)) return undefined;
  try {
    const value: unknown = JSON.parse(line.slice(metricsPrefix.length));
    if (typeof value !== 'object' || value === null) return undefined;
    const metrics: Record<string, number> = {};
    for (const [name, number] of Object.entries(value))
      if (typeof number === 'number') metrics[name] = number;
    return metrics;
  } catch {
    return undefined;
  }
}
