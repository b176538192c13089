/**
 * Which host runs which instance of a role. Default: contiguous blocks, as even as possible, the
 * first `instances mod hosts` hosts one instance more: 4 instances on 3 hosts are {0, 1}, {2},
 * {3}; 1 instance on 2 hosts runs on host 0. An explicit `placement` lists the host of each
 * instance: `[0, 1, 1]` puts instance 0 on host 0 and instances 1 and 2 on host 1.
 */
import { ConfigError } from '@millrace/core';

/** The instance indexes host `host` runs, in order. */
export function instancesOnHost(options: {
  role: string;
  instances: number;
  hosts: number;
  host: number;
  placement?: readonly number[] | undefined;
}): number[] {
  const { role, instances, hosts, host, placement } = options;
  if (placement !== undefined) {
    checkPlacement(role, instances, hosts, placement);
    return placement.flatMap((on, instance) => (on === host ? [instance] : []));
  }
  const base = Math.floor(instances / hosts);
  const extra = instances % hosts;
  const start = host * base + Math.min(host, extra);
  const count = base + (host < extra ? 1 : 0);
  return Array.from({ length: count }, (_, offset) => start + offset);
}

function checkPlacement(role: string, instances: number, hosts: number, placement: readonly number[]): void {
  const issues: { path: string; message: string }[] = [];
  if (!Array.isArray(placement) || placement.length !== instances) {
    issues.push({
      path: 'placement',
      message: `must list the host of each of the ${instances} instance(s), e.g. [${Array.from({ length: instances }, (_, i) => i % hosts).join(', ')}]; got ${JSON.stringify(placement)}`,
    });
  } else {
    placement.forEach((on, instance) => {
      if (!Number.isInteger(on) || on < 0 || on >= hosts)
        issues.push({
          path: `placement[${instance}]`,
          message: `is ${JSON.stringify(on)}, but the job runs on ${hosts} host(s): give a host index from 0 to ${hosts - 1}`,
        });
    });
  }
  if (issues.length > 0) throw new ConfigError(issues, { subject: `addRole '${role}'` });
}
