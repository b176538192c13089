/**
 * The chaos suite, short (the full one is `npm run chaos`): the stream-to-cluster example as
 * `millrace run` runs it, hit three ways — kill -9 of a runner, kill -9 of the job process (the AM
 * host with its node agents), SIGSTOP of a runner — and checked as scripts/chaos/harness.mjs does:
 * the job succeeds or fails with a named error within its bound, no process of the job is left,
 * no file of the job in /dev/shm or the temporary directory (after a killed host, the next Millrace
 * start removes them), and every number is summed exactly once (replay).
 */
import { describe, expect, it } from 'vitest';
import { formatRun, planFor, runChaos } from '../../scripts/chaos/harness.mjs';

const plans = [
  planFor(101, { scenario: 'stream-to-cluster', victim: 'runner', signal: 'SIGKILL', size: 'short' }),
  planFor(102, { scenario: 'stream-to-cluster', victim: 'host', signal: 'SIGKILL', size: 'short' }),
  planFor(103, { scenario: 'stream-to-cluster', victim: 'runner', signal: 'SIGSTOP', size: 'short' }),
];

describe('chaos (short): stream-to-cluster under kill -9 and SIGSTOP', () => {
  it.each(plans.map((plan) => [`${plan.signal} ${plan.victim}`, plan] as const))(
    '%s: no violation',
    async (_name, plan) => {
      const result = await runChaos(plan);
      // The table names every check, so a failure says which one and why.
      expect(result.violations, formatRun(result)).toEqual([]);
      expect(result.killed?.pid, formatRun(result)).toBeDefined();
    },
    180_000,
  );
});
