import type { AppStatus } from '@millrace/scheduler';

/** One paragraph about an application: its state, each host, and why it failed when known. */
export function applicationSummary(status: AppStatus): string {
  const hosts = status.hosts
    .map((host) => {
      const how = host.signal
        ? ` (${host.signal})`
        : host.exitCode !== undefined
          ? ` (exit ${host.exitCode})`
          : '';
      return `  host ${host.index}: ${host.state}${how}`;
    })
    .join('\n');
  return [
    `${status.handle} (${status.name}): ${status.state}${status.schedulerState && status.schedulerState !== status.state ? ` [${status.schedulerState}]` : ''}`,
    ...(hosts ? [hosts] : []),
    ...(status.message ? [status.message] : []),
  ].join('\n');
}
