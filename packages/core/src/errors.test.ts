import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  ConfigError,
  JobFailedError,
  MillraceError,
  NodeFailureError,
  StaleGenerationError,
} from './errors.js';

describe('errors', () => {
  it('isInstance on a subclass checks the kind, across package copies too', () => {
    const config = new ConfigError([{ path: 'roles', message: 'at least one role is required' }]);
    expect(ConfigError.isInstance(config)).toBe(true);
    expect(MillraceError.isInstance(config)).toBe(true);
    expect(CancelledError.isInstance(config)).toBe(false);
    const foreignCancel = Object.assign(new Error('x'), {
      [Symbol.for('millrace.error')]: true,
      name: 'CancelledError',
    });
    expect(CancelledError.isInstance(foreignCancel)).toBe(true);
    expect(ConfigError.isInstance(foreignCancel)).toBe(false);
  });

  it('a node failure says who failed, how, and what it wrote last', () => {
    const error = new NodeFailureError({
      role: 'worker',
      index: 1,
      generation: 2,
      reason: 'exited',
      exitCode: 3,
      message: 'runner exited',
      stderrTail: 'Traceback (most recent call last):\nValueError: bad batch',
    });
    expect(error.message).toContain('worker[1] (generation 2) exit code 3');
    expect(error.message).toContain('ValueError: bad batch');
    expect(error).toMatchObject({ role: 'worker', index: 1, exitCode: 3 });
  });

  it('a failed job lists every failed node and keeps the restart count', () => {
    const error = new JobFailedError(
      'restarts exhausted',
      [
        { role: 'worker', index: 0, generation: 0, reason: 'exited', signal: 'SIGKILL', message: 'killed' },
        { role: 'ps', index: 0, generation: 1, reason: 'heartbeat-missed', message: 'silent for 1500 ms' },
      ],
      1,
    );
    expect(error.message).toMatch(/worker\[0\].*killed by SIGKILL/);
    expect(error.message).toMatch(/ps\[0\].*heartbeat-missed/);
    expect(error.restarts).toBe(1);
  });

  it('keeps the cause', () => {
    const cause = new Error('root');
    expect(new StaleGenerationError(1, 2, { cause }).cause).toBe(cause);
  });
});
