/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core; no browser
 * download): the flagship runs with --chaos under `millrace run --ui 0`, and the page shows what
 * a person watching it would look for — node rows, charts that grow, the restart and its reason,
 * the final success. `/metrics` is scraped from the same server during the run. The screenshot
 * is saved to $MILLRACE_SCREENSHOT (docs/dashboard.png is one, committed).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrometheusText, seriesKey } from '@millrace/dashboard/testing';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'packages', 'cli', 'dist', 'bin.js');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

function startFlagship() {
  const child = spawn(
    process.execPath,
    [
      bin,
      'run',
      '--ui',
      '127.0.0.1:0',
      '--json',
      join(root, 'examples', 'flagship'),
      '--chaos',
      '--train',
      '80000',
      '--test',
      '10000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const dashboardUrl = new Promise<string>((resolve, reject) => {
    const check = () => {
      const found = /"dashboard: (http:[^"]+)"/.exec(stdout);
      if (found) resolve(found[1]!);
    };
    child.stdout!.on('data', check);
    child.on('close', () =>
      reject(new Error(`exited before printing the dashboard URL:\n${stderr.slice(-2000)}`)),
    );
  });
  return { exited, dashboardUrl, output: () => `${stdout.slice(-3000)}\n${stderr.slice(-3000)}` };
}

async function scrape(url: string, token: string) {
  const response = await fetch(new URL('/metrics', url), { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, text: await response.text() };
}

describe.skipIf(!existsSync(chromiumPath))('the dashboard in chromium', () => {
  it('shows the flagship with --chaos live: nodes, growing charts, the restart with its reason, success', async () => {
    const flagship = startFlagship();
    // Every wait below ends early, with the job's output, if the flagship exits first.
    const exitedEarly = flagship.exited.then((code) => {
      throw new Error(`the flagship exited (${code}) before the page showed it all:\n${flagship.output()}`);
    });
    exitedEarly.catch(() => {});
    const watch = <T>(wait: Promise<T>) => Promise.race([wait, exitedEarly]);
    const url = await flagship.dashboardUrl;
    const token = new URL(url).searchParams.get('token')!;
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      // Root cannot use chromium's sandbox (CI containers run as root).
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      await page.goto(url);
      // Node rows appear as the cluster forms.
      for (const node of ['worker[0]', 'worker[1]', 'ps[0]'])
        await watch(page.locator(`tr[data-node="${node}"]`).waitFor({ timeout: 240_000 }));

      // /metrics during the run: the names are there, counters only grow, a wrong token gets 401.
      const first = parsePrometheusText((await scrape(url, token)).text);
      const chart = page.locator('#throughput-chart');
      await watch(
        expect
          .poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 240_000 })
          .toBeGreaterThan(0),
      );
      const pointsEarly = Number(await chart.getAttribute('data-points'));
      await watch(
        expect
          .poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 240_000 })
          .toBeGreaterThan(pointsEarly),
      );
      const second = parsePrometheusText((await scrape(url, token)).text);
      const names = new Set(second.samples.map((sample) => sample.name));
      for (const name of [
        'millrace_job_duration_seconds',
        'millrace_cluster_state',
        'millrace_cluster_generation',
        'millrace_nodes',
        'millrace_node_last_report_age_seconds',
        'millrace_runner_metric',
        'millrace_operator_records_in_total',
        'millrace_operator_records_out_total',
        'millrace_operator_backpressured_seconds_total',
        'millrace_operator_input_queue_fill_ratio',
        'millrace_operator_subtask_backpressured_seconds_total',
        'millrace_role_input_queue_fill_ratio',
      ])
        expect(names, name).toContain(name);
      // Queue fills are shares of their capacity (ring fills too, while a ring is being fed: the
      // flagship's input ends early, so its rings are seldom there to be scraped; the ring test
      // in ml-operator-ring.test.ts asserts them).
      for (const sample of second.samples)
        if (sample.name.endsWith('_fill_ratio')) {
          expect(sample.value, seriesKey(sample)).toBeGreaterThanOrEqual(0);
          expect(sample.value, seriesKey(sample)).toBeLessThanOrEqual(1);
        }
      const before = new Map(first.samples.map((sample) => [seriesKey(sample), sample.value]));
      for (const sample of second.samples)
        if (second.types.get(sample.name) === 'counter')
          expect(sample.value, seriesKey(sample)).toBeGreaterThanOrEqual(before.get(seriesKey(sample)) ?? 0);
      expect(
        second.samples.some(
          (s) => s.name === 'millrace_runner_metric' && s.labels.name === 'samples_per_second',
        ),
      ).toBe(true);
      expect((await scrape(url, 'not-the-token')).status).toBe(401);

      // The operators table shows backpressure: the share of time the worker role waited, how full
      // its input queue and its runners' queues are and, while a runner reads through one, its ring.
      const worker = page.locator('#operators tr[data-operator="ctr-model-worker"]');
      for (const metric of ['backpressured', 'input-queue', 'runner-queue', 'runner-ring']) {
        const value = await worker.locator(`td[data-metric="${metric}"]`).getAttribute('data-value');
        if (metric !== 'runner-ring') expect(value, metric).not.toBeNull();
        if (value === null) continue;
        expect(Number(value), metric).toBeGreaterThanOrEqual(0);
        expect(Number(value), metric).toBeLessThanOrEqual(1);
      }

      // The chaos kill shows up in the restart timeline with its reason, and the page ends green.
      const restart = page.locator('#restarts li[data-reason="exited"]');
      await watch(restart.waitFor({ timeout: 240_000 }));
      expect(await restart.textContent()).toMatch(
        /worker\[1\].*SIGKILL|SIGKILL.*worker\[1\]|restart-one, worker\[1\]/s,
      );
      await page.locator('#outcome[data-status="succeeded"]').waitFor({ timeout: 240_000 });
      expect(await page.locator('tr[data-node="worker[1]"] td').nth(2).textContent()).toBe('1'); // attempt 1
      if (process.env.MILLRACE_SCREENSHOT)
        await page.screenshot({ path: process.env.MILLRACE_SCREENSHOT, fullPage: true });

      // A phone-sized window still shows every node and the outcome.
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.locator('tr[data-node]').count()).toBe(3);
      expect(await page.locator('#outcome').isVisible()).toBe(true);
      // Evaluated in the page (a string, since this file is typed for Node, not the DOM).
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      expect(overflow).toBeLessThanOrEqual(0);
    } finally {
      await browser.close();
    }
    expect(await flagship.exited, flagship.output()).toBe(0);
  }, 480_000);
});
