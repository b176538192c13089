/**
 * The Kubernetes objects for one application, built with kubernetes-models so each is validated
 * against the API schemas before it leaves this process:
 * - a Secret with the job's join material (token, TLS certificate and key, the join URL);
 * - a headless Service, so host 0 has a stable DNS name (`NAME-0.NAME.NAMESPACE.svc`);
 * - an Indexed Job: `completions` = `parallelism` = hosts, the host index from the completion
 *   index annotation, `restartPolicy: Never`, `backoffLimit` from the job's restart bound.
 * Every pod gets the same join URL; host 0 serves the application manager it names (with the
 * Secret's certificate, whose fingerprint the URL pins), the others join it.
 */
import { ConfigError } from '@millrace/core';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { stringify } from 'yaml';
import { isKubernetesName } from '../app-handle.js';
import { hostCommand } from '../host-command.js';
import type { SubmitRequest } from '../scheduler.js';

export interface KubernetesOptions {
  /** The container image: it must have Node 20, the `millrace` command and the job at `request.job`. */
  image?: string;
  namespace?: string;
  /** CPU per host (request and limit), e.g. `2` or `500m`. */
  cpu?: string;
  /** Memory per host (request and limit), e.g. `4Gi`. */
  memory?: string;
  /** The port host 0's application manager listens on inside its pod (default 7070). */
  applicationManagerPort?: number;
  /** Pod failures Kubernetes retries before it fails the Job; match the job's `maxRestarts` (default 3). */
  maxRestarts?: number;
}

/** Join material made at submit time; `describe` shows placeholders instead. */
export interface JoinSecret {
  token: string;
  certificatePem: string;
  keyPem: string;
  /** `millrace://HOST:PORT?token=…&ca=sha256:…` naming host 0 through the headless Service. */
  joinUrl: string;
}

export const secretMountPath = '/millrace/secret';
export const sharedMountPath = '/millrace/shared';
export const defaultApplicationManagerPort = 7070;
const completionIndexAnnotation = "metadata.annotations['batch.kubernetes.io/job-completion-index']";

export interface ApplicationManifests {
  secret: Secret;
  service: Service;
  job: Job;
}

/** DNS name of host 0 inside the cluster, which the join URL and the certificate name. */
export function hostZeroDnsName(name: string, namespace: string): string {
  return `${name}-0.${name}.${namespace}.svc`;
}

export function kubernetesManifests(
  request: SubmitRequest,
  options: KubernetesOptions,
  joinSecret: JoinSecret,
): ApplicationManifests {
  const namespace = options.namespace ?? 'default';
  const port = options.applicationManagerPort ?? defaultApplicationManagerPort;
  const issues = [
    ...(options.image
      ? []
      : [
          {
            path: 'image',
            message: 'is required: --image REGISTRY/IMAGE:TAG with Node 20, millrace and the job',
          },
        ]),
    ...(isKubernetesName(namespace)
      ? []
      : [{ path: 'namespace', message: `'${namespace}' is not an RFC 1123 name` }]),
    ...(isKubernetesName(request.name)
      ? []
      : [
          {
            path: 'name',
            message: `'${request.name}' is not an RFC 1123 name (lowercase letters, digits, '-')`,
          },
        ]),
  ];
  if (issues.length > 0) throw new ConfigError(issues, { subject: 'kubernetes options' });
  const labels = { 'app.kubernetes.io/name': 'millrace', 'app.kubernetes.io/instance': request.name };
  const secretName = `${request.name}-join`;
  const resources =
    options.cpu || options.memory
      ? {
          requests: {
            ...(options.cpu ? { cpu: options.cpu } : {}),
            ...(options.memory ? { memory: options.memory } : {}),
          },
          limits: {
            ...(options.cpu ? { cpu: options.cpu } : {}),
            ...(options.memory ? { memory: options.memory } : {}),
          },
        }
      : undefined;
  const command = hostCommand(request, {
    hostIndex: '$(MILLRACE_HOST_INDEX)',
    sharedDirectory: sharedMountPath,
    hostZeroOptions: [
      '--am-tls-cert',
      `${secretMountPath}/tls.crt`,
      '--am-tls-key',
      `${secretMountPath}/tls.key`,
    ],
  });

  const secret = new Secret({
    metadata: { name: secretName, namespace, labels },
    type: 'Opaque',
    stringData: {
      token: joinSecret.token,
      join: joinSecret.joinUrl,
      'tls.crt': joinSecret.certificatePem,
      'tls.key': joinSecret.keyPem,
    },
  });
  const service = new Service({
    metadata: { name: request.name, namespace, labels },
    spec: {
      clusterIP: 'None',
      selector: labels,
      ports: [{ name: 'millrace-am', port, targetPort: port }],
      // Host 0 must be resolvable before it is ready: the other hosts wait for it through the name.
      publishNotReadyAddresses: true,
    },
  });
  const job = new Job({
    metadata: { name: request.name, namespace, labels },
    spec: {
      completionMode: 'Indexed',
      completions: request.hosts,
      parallelism: request.hosts,
      backoffLimit: options.maxRestarts ?? 3,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          subdomain: request.name,
          containers: [
            {
              name: 'host',
              image: options.image as string,
              command,
              env: [
                {
                  name: 'MILLRACE_HOST_INDEX',
                  valueFrom: { fieldRef: { fieldPath: completionIndexAnnotation } },
                },
                { name: 'MILLRACE_JOIN', valueFrom: { secretKeyRef: { name: secretName, key: 'join' } } },
                ...Object.entries(request.environment ?? {}).map(([name, value]) => ({ name, value })),
              ],
              ports: [{ name: 'millrace-am', containerPort: port }],
              ...(resources ? { resources } : {}),
              volumeMounts: [
                { name: 'join', mountPath: secretMountPath, readOnly: true },
                { name: 'shared', mountPath: sharedMountPath },
              ],
            },
          ],
          volumes: [
            { name: 'join', secret: { secretName, defaultMode: 0o400 } },
            { name: 'shared', emptyDir: {} },
          ],
        },
      },
    },
  });
  for (const manifest of [secret, service, job]) manifest.validate();
  return { secret, service, job };
}

/** The manifests as one multi-document YAML stream, ready for `kubectl apply -f -`. */
export function manifestsYaml(manifests: ApplicationManifests): string {
  return [manifests.secret, manifests.service, manifests.job]
    .map((manifest) => stringify(manifest.toJSON()))
    .join('---\n');
}
