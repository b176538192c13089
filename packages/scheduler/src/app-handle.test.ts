import { ConfigError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { applicationName, formatAppHandle, parseAppHandle } from './app-handle.js';

describe('application handles', () => {
  it('round-trips every scheduler’s handle', () => {
    for (const text of ['local://sums-abc123-0f0f0f', 'slurm://4711', 'kubernetes://ml-team/click-train']) {
      expect(formatAppHandle(parseAppHandle(text))).toBe(text);
    }
    expect(parseAppHandle('kubernetes://ml-team/click-train')).toEqual({
      scheduler: 'kubernetes',
      namespace: 'ml-team',
      name: 'click-train',
    });
  });

  it('names what is wrong with a handle', () => {
    const message = (text: string) => {
      try {
        parseAppHandle(text);
      } catch (error) {
        expect(ConfigError.isInstance(error)).toBe(true);
        return (error as Error).message;
      }
      throw new Error(`'${text}' was accepted`);
    };
    expect(message('4711')).toMatch(
      /expected local:\/\/ID, slurm:\/\/JOBID or kubernetes:\/\/NAMESPACE\/NAME/,
    );
    expect(message('yarn://1')).toMatch(/unknown scheduler 'yarn'; known: local, slurm, kubernetes/);
    expect(message('slurm://abc')).toMatch(/not a Slurm job id/);
    expect(message('kubernetes://Team/job')).toMatch(/RFC 1123/);
    expect(message('kubernetes://team')).toMatch(/NAMESPACE\/NAME/);
  });

  it('makes a name Kubernetes and Slurm accept from a file name', () => {
    expect(applicationName('Click_Train.v2')).toBe('click-train-v2');
    expect(applicationName('___')).toBe('millrace-job');
  });
});
