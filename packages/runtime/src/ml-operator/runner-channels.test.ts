import { describe, expect, it } from 'vitest';
import { openRunnerChannels } from './runner-channels.js';

describe('openRunnerChannels', () => {
  it('explains that the program must be started by a stream-mode role', async () => {
    await expect(openRunnerChannels({})).rejects.toThrow(/MILLRACE_RECORDS_TRANSPORT: is not set/);
  });

  it('loads other transports from their package and says which one is missing', async () => {
    await expect(openRunnerChannels({ MILLRACE_RECORDS_TRANSPORT: 'carrier-pigeon' })).rejects.toThrow(
      /needs @millrace\/bridge-carrier-pigeon/,
    );
  });
});
