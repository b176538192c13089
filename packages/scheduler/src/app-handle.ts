import { ConfigError } from '@millrace/core';

/**
 * What `millrace submit` prints and every other scheduler command takes: which cluster manager
 * runs the application, and its name there. The text forms are `local://ID`, `slurm://JOBID` and
 * `kubernetes://NAMESPACE/NAME` (TorchX's app handles are the model).
 */
export type AppHandle =
  | { scheduler: 'local'; id: string }
  | { scheduler: 'slurm'; jobId: string }
  | { scheduler: 'kubernetes'; namespace: string; name: string };

export type SchedulerName = AppHandle['scheduler'];

export const schedulerNames: readonly SchedulerName[] = ['local', 'slurm', 'kubernetes'];

const localId = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const slurmJobId = /^\d+$/;
// RFC 1123 labels: what Kubernetes accepts for namespaces and Job names.
const kubernetesName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function formatAppHandle(handle: AppHandle): string {
  switch (handle.scheduler) {
    case 'local':
      return `local://${handle.id}`;
    case 'slurm':
      return `slurm://${handle.jobId}`;
    case 'kubernetes':
      return `kubernetes://${handle.namespace}/${handle.name}`;
  }
}

export function parseAppHandle(text: string): AppHandle {
  const invalid = (message: string) =>
    new ConfigError([{ path: '', message }], { subject: `handle '${text}'` });
  const match = /^([a-z]+):\/\/(.+)$/.exec(text);
  if (!match) {
    throw invalid(
      'is not an application handle; expected local://ID, slurm://JOBID or kubernetes://NAMESPACE/NAME (printed by `millrace submit`)',
    );
  }
  const [, scheme, rest] = match as unknown as [string, string, string];
  switch (scheme) {
    case 'local':
      if (!localId.test(rest)) throw invalid(`'${rest}' is not a local application id`);
      return { scheduler: 'local', id: rest };
    case 'slurm':
      if (!slurmJobId.test(rest)) throw invalid(`'${rest}' is not a Slurm job id (digits only)`);
      return { scheduler: 'slurm', jobId: rest };
    case 'kubernetes': {
      const [namespace, name, ...extra] = rest.split('/');
      if (
        !namespace ||
        !name ||
        extra.length > 0 ||
        !kubernetesName.test(namespace) ||
        !kubernetesName.test(name)
      ) {
        throw invalid('expected kubernetes://NAMESPACE/NAME with lowercase RFC 1123 names');
      }
      return { scheduler: 'kubernetes', namespace, name };
    }
    default:
      throw invalid(`unknown scheduler '${scheme}'; known: ${schedulerNames.join(', ')}`);
  }
}

/** A Kubernetes- and Slurm-safe application name from what the user typed (or the job's file name). */
export function applicationName(text: string): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return cleaned || 'millrace-job';
}

export function isKubernetesName(text: string): boolean {
  return kubernetesName.test(text) && text.length <= 63;
}
