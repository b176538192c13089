/**
 * A TF.js runner never outlives the agent that started it (issue 12, finding 1): `millrace run` of
 * a TF.js async cluster hosts the AM and the node agents; kill -9 of that process, which no exit
 * hook can catch, must take every TF.js runner (both workers and the parameter server) with it,
 * through the kernel's parent-death signal. The chaos harness runs the job and accounts for every
 * process it saw (and for the job's files) afterwards.
 */
import { describe, expect, it } from 'vitest';
import { formatRun, planFor, runChaos } from '../../scripts/chaos/harness.mjs';

describe('TF.js runners die with their agent', () => {
  it('kill -9 of the process hosting the node agents leaves no TF.js worker or parameter server', async () => {
    // Early in training (500 ms after the first runner started), so the job cannot end first.
    const plan = planFor(201, { scenario: 'tensorflow-async', victim: 'host', signal: 'SIGKILL', atMs: 500 });
    const result = await runChaos(plan);
    const table = formatRun(result);
    expect(result.outcome, table).toBe('host killed');
    const roles = (result.processes ?? []).map((entry) => entry.role).filter((role) => role !== 'host');
    expect(roles, table).toEqual(expect.arrayContaining(['worker[0]', 'worker[1]', 'ps[0]']));
    // Every one of them was gone within the harness's bound (10 s after the host died).
    expect(result.checks.processes, table).toBe('ok');
    expect(result.violations, table).toEqual([]);
  }, 240_000);
});
