import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAppHandle } from '../app-handle.js';
import { createKubernetesScheduler } from './kubernetes-scheduler.js';

// No Kubernetes API server can run on these machines; what can be checked for real is that the
// apply path refuses clearly without a cluster, and that describe needs none.
describe('the Kubernetes scheduler without a cluster', () => {
  const home = mkdtempSync(join(tmpdir(), 'millrace-kube-home-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  const environment = { PATH: process.env.PATH, HOME: home };
  const previousHome = process.env.HOME;

  it('says there is no kubeconfig and how to apply the manifests instead', async () => {
    process.env.HOME = home;
    try {
      const scheduler = createKubernetesScheduler({ environment });
      await expect(scheduler.status(parseAppHandle('kubernetes://default/sums'))).rejects.toThrow(
        /kubernetes: no kubeconfig found .* use --dry-run and apply the manifests with kubectl apply -f -/,
      );
    } finally {
      process.env.HOME = previousHome;
    }
  });
});
