import { describe, expect, it } from 'vitest';
import { openRunnerChannels } from './runner-channels.js';

describe('openRunnerChannels', () => {
  it('explains that the program must be started by a stream-mode role', async () => {
    await expect(openRunnerChannels({})).rejects.toThrow(/MILLRACE_RECORDS_TRANSPORT: is not set/);
  });

  it('names a transport it does not know', async () => {
    await expect(openRunnerChannels({ MILLRACE_RECORDS_TRANSPORT: 'carrier-pigeon' })).rejects.toThrow(
      /MILLRACE_RECORDS_TRANSPORT: must be 'pipes' or 'shm' \(got "carrier-pigeon"\)/,
    );
  });
});
