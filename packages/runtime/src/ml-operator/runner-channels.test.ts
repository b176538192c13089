import { describe, expect, it } from 'vitest';
import { openRunnerChannels } from './runner-channels.js';

describe('openRunnerChannels', () => {
  it('explains that the program must be started by a stream-mode role', async () => {
    await expect(openRunnerChannels({})).rejects.toThrow(/MILLRACE_RECORDS_TRANSPORT: is not set/);
  });

  it('a program that speaks another codec than its role fails at open, naming both', async () => {
    await expect(
      openRunnerChannels(
        { MILLRACE_RECORDS_TRANSPORT: 'pipes', MILLRACE_RECORDS_CODEC: 'json', MILLRACE_ROLE: 'worker' },
        { codec: 'msgpack' },
      ),
    ).rejects.toThrow(
      /this runner program speaks 'msgpack' but its role \(worker\) encodes its records with 'json'/,
    );
    await expect(
      openRunnerChannels(
        { MILLRACE_RECORDS_TRANSPORT: 'pipes', MILLRACE_RECORDS_CODEC: 'json' },
        { codec: 'json' },
      ),
    ).resolves.toMatchObject({ resumePosition: 0, position: 0 });
  });

  it('names a transport it does not know', async () => {
    await expect(openRunnerChannels({ MILLRACE_RECORDS_TRANSPORT: 'carrier-pigeon' })).rejects.toThrow(
      /MILLRACE_RECORDS_TRANSPORT: must be 'pipes' or 'shm' \(got "carrier-pigeon"\)/,
    );
  });
});
