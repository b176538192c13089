import { ConfigError } from '@millrace/core';

/** Parses `worker=2,ps=1` into `{ worker: { instances: 2 }, ps: { instances: 1 } }`. */
export function parseRoles(text: string): Record<string, { instances: number }> {
  const roles: Record<string, { instances: number }> = {};
  for (const part of text
    .split(',')
    .map((piece) => piece.trim())
    .filter(Boolean)) {
    const match = /^([^=]+)=(.*)$/.exec(part);
    const instances = Number(match?.[2]);
    if (!match || !Number.isInteger(instances)) {
      throw new ConfigError(
        [{ path: 'roles', message: `'${part}' is not role=count (e.g. worker=2,ps=1)` }],
        {
          subject: '--roles',
        },
      );
    }
    roles[match[1]!.trim()] = { instances };
  }
  if (!Object.keys(roles).length) {
    throw new ConfigError([{ path: 'roles', message: 'name at least one role, e.g. --roles worker=2' }], {
      subject: '--roles',
    });
  }
  return roles;
}

/** Parses a non-negative integer option, naming the option when it is not one. */
export function parseInteger(option: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) {
      throw new ConfigError([{ path: option, message: `must be a non-negative integer, got '${value}'` }], {
        subject: 'options',
      });
    }
    return number;
  };
}
