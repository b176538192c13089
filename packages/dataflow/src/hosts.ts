/**
 * Which host of a multi-host job this process is. The same job module runs on every host
 * (`millrace run JOB --hosts N --host-index I`); each host runs the whole dataflow graph on its own
 * share of the input, and records never cross hosts (DESIGN §9). The built-in sources read their
 * host's share with one rule: the record at position p of the input (generator index p, the p-th
 * element of an iterable, the p-th line / JSON line / CSV row of a file, counting from 0) belongs
 * to host `p mod N`. Role instances are placed on hosts by the ML operator (`addRole`'s
 * `placement`).
 *
 * A job takes its hosts from `new Job({ hosts })`, else from the process: what `millrace run` set
 * with {@link setProcessHosts}, else the environment (MILLRACE_HOSTS, MILLRACE_HOST_INDEX), else
 * one host. The process value lives under a global symbol so that a job module importing its own
 * copy of this package still sees what the CLI set.
 */
import { ConfigError } from '@millrace/core';

export interface JobHosts {
  /** How many hosts run the job (≥ 1). */
  readonly count: number;
  /** Which of them this one is, from 0. */
  readonly index: number;
}

const processKey = Symbol.for('millrace.job-hosts');
export const oneHost: JobHosts = { count: 1, index: 0 };

/** Sets (or, with undefined, clears) the hosts every `new Job()` of this process defaults to. */
export function setProcessHosts(hosts: JobHosts | undefined): void {
  if (hosts !== undefined) checkJobHosts(hosts, 'hosts');
  (globalThis as Record<symbol, unknown>)[processKey] = hosts;
}

/** The hosts a `new Job()` without `hosts` runs on (see the module comment). */
export function processHosts(environment: NodeJS.ProcessEnv = process.env): JobHosts {
  const set = (globalThis as Record<symbol, unknown>)[processKey] as JobHosts | undefined;
  if (set !== undefined) return set;
  const count = environment.MILLRACE_HOSTS;
  const index = environment.MILLRACE_HOST_INDEX;
  if (!count && !index) return oneHost;
  const hosts = { count: count ? Number(count) : 1, index: index ? Number(index) : 0 };
  checkJobHosts(hosts, 'MILLRACE_HOSTS / MILLRACE_HOST_INDEX');
  return hosts;
}

/** Throws a ConfigError unless `count` ≥ 1 and 0 ≤ `index` < `count`, both integers. */
export function checkJobHosts(hosts: JobHosts, subject: string): void {
  const issues: { path: string; message: string }[] = [];
  if (!Number.isInteger(hosts.count) || hosts.count < 1)
    issues.push({ path: 'count', message: `must be an integer ≥ 1, got ${String(hosts.count)}` });
  else if (!Number.isInteger(hosts.index) || hosts.index < 0 || hosts.index >= hosts.count)
    issues.push({
      path: 'index',
      message: `must be an integer from 0 to ${hosts.count - 1} (there are ${hosts.count} hosts), got ${String(hosts.index)}`,
    });
  if (issues.length > 0) throw new ConfigError(issues, { subject });
}

/** True when the record at `position` of a source's input is this host's to read. */
export function isHostShare(hosts: JobHosts, position: number): boolean {
  return position % hosts.count === hosts.index;
}
