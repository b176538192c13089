#!/usr/bin/env node
/**
 * `npm run chaos [-- --runs N] [--seed S] [--scenario NAME] [--short]`: the standing chaos suite.
 * Run i uses seed S + i; the seed picks the job (rotating through stream-to-cluster, a TF.js async
 * cluster and a PyTorch DDP cluster), the process to hit (the AM host with its node agents, a
 * runner, the parameter server), kill -9 or SIGSTOP, and the moment. Each run is checked (see
 * harness.mjs) and printed as a table; the last line is `chaos: N runs, N violations`, and the
 * exit code is 1 when there was any violation.
 */
import { parseArgs } from 'node:util';
import { formatRun, planFor, runChaos, scenarioNames } from './harness.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '6' },
    seed: { type: 'string', default: '1' },
    scenario: { type: 'string' },
    short: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const firstSeed = Number(values.seed);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`chaos: --runs must be a positive integer, got '${values.runs}'`);
  process.exit(2);
}
if (!Number.isInteger(firstSeed) || firstSeed < 0) {
  console.error(`chaos: --seed must be a non-negative integer, got '${values.seed}'`);
  process.exit(2);
}
if (values.scenario !== undefined && !scenarioNames.includes(values.scenario)) {
  console.error(`chaos: --scenario must be one of ${scenarioNames.join(', ')}, got '${values.scenario}'`);
  process.exit(2);
}

let ran = 0;
let violations = 0;
for (let i = 0; i < runs; i++) {
  const plan = planFor(firstSeed + i, {
    ...(values.scenario ? { scenario: values.scenario } : {}),
    size: values.short ? 'short' : 'full',
  });
  const result = await runChaos(plan);
  process.stdout.write(formatRun(result));
  if (result.skipped) continue;
  ran += 1;
  violations += result.violations.length;
  if (result.violations.length > 0 && result.stderrTail) {
    process.stdout.write(`  stderr tail:\n${result.stderrTail.replace(/^/gm, '    ')}\n`);
  }
}
console.log(`chaos: ${ran} runs, ${violations} violations`);
process.exit(violations > 0 ? 1 : 0);
