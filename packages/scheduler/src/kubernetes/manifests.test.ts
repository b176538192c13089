import { ConfigError } from '@millrace/core';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { SubmitRequest } from '../scheduler.js';
import { kubernetesManifests, manifestsYaml } from './manifests.js';

const request: SubmitRequest = {
  job: '/app/jobs/sums.mjs',
  jobArguments: [],
  hosts: 3,
  name: 'sums',
  millraceCommand: ['millrace'],
};
const joinSecret = {
  token: 'token-1',
  certificatePem: 'CERT',
  keyPem: 'KEY',
  joinUrl: 'millrace://sums-0.sums.ml.svc:7070?token=token-1&ca=sha256:ab',
};

describe('Kubernetes manifests', () => {
  const manifests = kubernetesManifests(
    request,
    { image: 'registry.example/millrace-jobs:1', namespace: 'ml', cpu: '2', memory: '4Gi', maxRestarts: 5 },
    joinSecret,
  );

  it('emit a Secret, a headless Service and an Indexed Job that pass the API schemas', () => {
    const documents = parseAllDocuments(manifestsYaml(manifests)).map((document) => document.toJSON());
    expect(documents.map((document) => `${document.apiVersion} ${document.kind}`)).toEqual([
      'v1 Secret',
      'v1 Service',
      'batch/v1 Job',
    ]);
    // Re-validate what a user would `kubectl apply`: the YAML, not our objects.
    expect(() => new Job(documents[2]).validate()).not.toThrow();
    const [secret, service, job] = documents;
    expect(secret.stringData).toMatchObject({ token: 'token-1', join: joinSecret.joinUrl });
    expect(service.spec).toMatchObject({ clusterIP: 'None', ports: [{ port: 7070 }] });
    expect(job.spec).toMatchObject({
      completionMode: 'Indexed',
      completions: 3,
      parallelism: 3,
      backoffLimit: 5,
    });
    const pod = job.spec.template.spec;
    expect(pod).toMatchObject({ restartPolicy: 'Never', subdomain: 'sums' });
    const container = pod.containers[0];
    expect(container.image).toBe('registry.example/millrace-jobs:1');
    expect(container.command).toEqual([
      'millrace',
      'run',
      '--hosts',
      '3',
      '--host-index',
      '$(MILLRACE_HOST_INDEX)',
      '--shared-dir',
      '/millrace/shared',
      '--am-tls-cert',
      '/millrace/secret/tls.crt',
      '--am-tls-key',
      '/millrace/secret/tls.key',
      '/app/jobs/sums.mjs',
    ]);
    expect(container.env).toEqual([
      {
        name: 'MILLRACE_HOST_INDEX',
        valueFrom: {
          fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
        },
      },
      { name: 'MILLRACE_JOIN', valueFrom: { secretKeyRef: { name: 'sums-join', key: 'join' } } },
    ]);
    expect(container.resources).toEqual({
      requests: { cpu: '2', memory: '4Gi' },
      limits: { cpu: '2', memory: '4Gi' },
    });
    // The Service selects exactly the Job's pods, so host 0 gets its DNS name.
    expect(service.spec.selector).toEqual(job.spec.template.metadata.labels);
  });

  it('name each missing or invalid option', () => {
    expect(() => kubernetesManifests(request, { namespace: 'ML' }, joinSecret)).toThrow(ConfigError);
    try {
      kubernetesManifests({ ...request, name: 'Sums' }, { namespace: 'ML' }, joinSecret);
    } catch (error) {
      expect((error as Error).message).toMatch(/image: is required/);
      expect((error as Error).message).toMatch(/namespace: 'ML' is not an RFC 1123 name/);
      expect((error as Error).message).toMatch(/name: 'Sums' is not an RFC 1123 name/);
    }
  });
});
