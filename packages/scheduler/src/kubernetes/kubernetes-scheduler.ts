import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import { DependencyMissingError } from '@millrace/core';
import { createSelfSignedIdentity, formatJoinUrl } from '@millrace/runtime';
import { type AppHandle, formatAppHandle } from '../app-handle.js';
import { SchedulerError, UnknownApplicationError } from '../errors.js';
import type { AppState, AppStatus, HostLog, HostStatus, Scheduler, SubmitRequest } from '../scheduler.js';
import {
  type ApplicationManifests,
  defaultApplicationManagerPort,
  hostZeroDnsName,
  type JoinSecret,
  type KubernetesOptions,
  kubernetesManifests,
  manifestsYaml,
} from './manifests.js';

type KubernetesClient = typeof import('@kubernetes/client-node');

/** How long `stop` waits for the Job's pods to go. */
const stopBoundMs = 60_000;

/**
 * Kubernetes through its API (`@kubernetes/client-node`, an optional peer, loaded only here) with
 * the kubeconfig kubectl would use. `describe` needs neither the client nor a cluster.
 */
export function createKubernetesScheduler(
  settings: { environment?: NodeJS.ProcessEnv } = {},
): Scheduler<KubernetesOptions> {
  const environment = settings.environment ?? process.env;

  async function api() {
    const client = await loadClient();
    const config = new client.KubeConfig();
    const hasConfigFile = environment.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config'));
    if (!hasConfigFile && !environment.KUBERNETES_SERVICE_HOST) {
      throw new SchedulerError(
        'kubernetes',
        'no kubeconfig found (KUBECONFIG, ~/.kube/config, or running inside a cluster); point KUBECONFIG at your cluster, or use --dry-run and apply the manifests with kubectl apply -f -',
      );
    }
    config.loadFromDefault();
    return {
      client,
      core: config.makeApiClient(client.CoreV1Api),
      batch: config.makeApiClient(client.BatchV1Api),
    };
  }

  function nameOf(handle: AppHandle): { name: string; namespace: string } {
    if (handle.scheduler !== 'kubernetes')
      throw new Error(`not a Kubernetes handle: ${formatAppHandle(handle)}`);
    return { name: handle.name, namespace: handle.namespace };
  }

  async function readJob(handle: AppHandle) {
    const { batch } = await api();
    try {
      return await batch.readNamespacedJob(nameOf(handle));
    } catch (error) {
      if (statusCodeOf(error) === 404) {
        throw new UnknownApplicationError(
          formatAppHandle(handle),
          'the cluster has no such Job (deleted, or never submitted)',
        );
      }
      throw apiError('reading the Job', error);
    }
  }

  async function status(handle: AppHandle): Promise<AppStatus> {
    const job = await readJob(handle);
    const hostsCount = job.spec?.completions ?? 0;
    const conditions = job.status?.conditions ?? [];
    const failedCondition = conditions.find(
      (condition) => condition.type === 'Failed' && condition.status === 'True',
    );
    const complete = conditions.some(
      (condition) => condition.type === 'Complete' && condition.status === 'True',
    );
    const state: AppState = complete
      ? 'succeeded'
      : failedCondition
        ? 'failed'
        : (job.status?.active ?? 0) > 0
          ? 'running'
          : 'pending';
    const completed = new Set(parseIndexes(job.status?.completedIndexes ?? ''));
    const hosts: HostStatus[] = Array.from({ length: hostsCount }, (_, index) => ({
      index,
      state: completed.has(index) ? 'succeeded' : state === 'succeeded' ? 'succeeded' : state,
    }));
    return {
      handle: formatAppHandle(handle),
      scheduler: 'kubernetes',
      name: nameOf(handle).name,
      state,
      schedulerState: complete
        ? 'Complete'
        : failedCondition
          ? `Failed (${failedCondition.reason ?? 'unknown reason'})`
          : state,
      hosts,
      message: failedCondition ? (failedCondition.message ?? failedCondition.reason) : undefined,
    };
  }

  return {
    name: 'kubernetes',
    async describe(request, options) {
      const placeholder: JoinSecret = {
        token: '<generated at submit>',
        certificatePem: '<generated at submit>',
        keyPem: '<generated at submit>',
        joinUrl: '<generated at submit: millrace://HOST-0:PORT?token=…&ca=sha256:…>',
      };
      return manifestsYaml(kubernetesManifests(request, options, placeholder));
    },
    async submit(request, options) {
      const namespace = options.namespace ?? 'default';
      // Validate before making credentials or touching the cluster.
      kubernetesManifests(request, options, { token: '', certificatePem: '', keyPem: '', joinUrl: '' });
      const joinSecret = await createJoinSecret(
        request,
        namespace,
        options.applicationManagerPort ?? defaultApplicationManagerPort,
      );
      const manifests = kubernetesManifests(request, options, joinSecret);
      await applyManifests(await api(), namespace, manifests);
      return formatAppHandle({ scheduler: 'kubernetes', namespace, name: request.name });
    },
    status,
    async logs(handle, options = {}): Promise<HostLog[]> {
      const { core } = await api();
      const { name, namespace } = nameOf(handle);
      const pods = await core
        .listNamespacedPod({ namespace, labelSelector: `job-name=${name}` })
        .catch((error: unknown) => Promise.reject(apiError('listing pods', error)));
      const logs: HostLog[] = [];
      for (const pod of pods.items) {
        const host = Number(pod.metadata?.annotations?.['batch.kubernetes.io/job-completion-index']);
        if (options.host !== undefined && host !== options.host) continue;
        const text = await core
          .readNamespacedPodLog({ name: pod.metadata?.name as string, namespace })
          .catch((error: unknown) => `(no log: ${apiError('reading the log', error).message})`);
        logs.push({ host, text: String(text) });
      }
      return logs.sort((a, b) => a.host - b.host);
    },
    async stop(handle) {
      const before = await status(handle);
      const { core, batch } = await api();
      const { name, namespace } = nameOf(handle);
      await batch
        .deleteNamespacedJob({ name, namespace, propagationPolicy: 'Foreground' })
        .catch((error: unknown) => Promise.reject(apiError('deleting the Job', error)));
      for (const remove of [
        () => core.deleteNamespacedService({ name, namespace }),
        () => core.deleteNamespacedSecret({ name: `${name}-join`, namespace }),
      ]) {
        await remove().catch((error: unknown) => {
          if (statusCodeOf(error) !== 404) throw apiError('deleting the Service and Secret', error);
        });
      }
      const deadline = Date.now() + stopBoundMs;
      for (;;) {
        const pods = await core.listNamespacedPod({ namespace, labelSelector: `job-name=${name}` });
        if (pods.items.length === 0) break;
        if (Date.now() > deadline)
          throw new SchedulerError(
            'kubernetes',
            `pods of ${name} still present ${stopBoundMs} ms after deletion`,
          );
        await sleep(500);
      }
      const ended = before.state === 'succeeded' || before.state === 'failed' ? before.state : 'stopped';
      return {
        ...before,
        state: ended,
        hosts: before.hosts.map((host) => ({
          ...host,
          state: host.state === 'running' || host.state === 'pending' ? 'stopped' : host.state,
        })),
      };
    },
  };
}

async function loadClient(): Promise<KubernetesClient> {
  try {
    return await import('@kubernetes/client-node');
  } catch (error) {
    throw new DependencyMissingError(
      '@kubernetes/client-node',
      'submitting to Kubernetes needs @kubernetes/client-node 1.4 (npm install @kubernetes/client-node@~1.4.0); --dry-run works without it',
      { cause: error },
    );
  }
}

async function applyManifests(
  { core, batch }: { core: CoreV1Api; batch: BatchV1Api },
  namespace: string,
  manifests: ApplicationManifests,
): Promise<void> {
  const steps: [string, () => Promise<unknown>][] = [
    [
      'creating the Secret',
      () => core.createNamespacedSecret({ namespace, body: manifests.secret.toJSON() as never }),
    ],
    [
      'creating the Service',
      () => core.createNamespacedService({ namespace, body: manifests.service.toJSON() as never }),
    ],
    [
      'creating the Job',
      () => batch.createNamespacedJob({ namespace, body: manifests.job.toJSON() as never }),
    ],
  ];
  for (const [what, step] of steps) {
    await step().catch((error: unknown) => Promise.reject(apiError(what, error)));
  }
}

/** A fresh token and a self-signed certificate (the AM's own kind), pinned by the join URL. */
async function createJoinSecret(
  request: SubmitRequest,
  namespace: string,
  port: number,
): Promise<JoinSecret> {
  const host = hostZeroDnsName(request.name, namespace);
  const identity = await createSelfSignedIdentity({ commonName: host });
  const token = randomBytes(32).toString('base64url');
  return {
    token,
    certificatePem: identity.certificate,
    keyPem: identity.privateKey,
    joinUrl: formatJoinUrl({ address: `${host}:${port}`, token, fingerprint: identity.fingerprint }),
  };
}

function statusCodeOf(error: unknown): number | undefined {
  return (error as { code?: number }).code ?? (error as { statusCode?: number }).statusCode;
}

/** The API server's own message (a Status object's `message`), which says what to fix. */
function apiError(what: string, error: unknown): SchedulerError {
  const body = (error as { body?: unknown }).body;
  let said = error instanceof Error ? error.message : String(error);
  if (typeof body === 'string') {
    try {
      said = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      said = body;
    }
  } else if (body && typeof body === 'object' && 'message' in body) {
    said = String((body as { message: unknown }).message);
  }
  return new SchedulerError('kubernetes', `${what} was refused: ${said}`, { cause: error });
}

/** `completedIndexes` is a list like `0,2-4`. */
function parseIndexes(text: string): number[] {
  return text
    .split(',')
    .filter(Boolean)
    .flatMap((part) => {
      const [from, to] = part.split('-').map(Number) as [number, number | undefined];
      return to === undefined ? [from] : Array.from({ length: to - from + 1 }, (_, offset) => from + offset);
    });
}
