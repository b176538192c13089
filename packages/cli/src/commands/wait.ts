import { exitCodeOf, schedulerOfHandle, waitForApplication } from '@millrace/scheduler';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import { applicationSummary } from '../scheduling/application-text.js';

/** `millrace wait HANDLE`: follows a submitted application to its end; the exit code mirrors it. */
export const waitCommand: CliCommand = {
  name: 'wait',
  register(program: Command, io: CliIo) {
    program
      .command('wait')
      .description('wait for a submitted application; exit 0 succeeded, 1 failed, 130 stopped')
      .argument('<handle>', 'the handle `millrace submit` printed')
      .option(
        '--timeout <seconds>',
        'give up waiting after this long (exit 124; the application keeps running)',
      )
      .action(async (text: string, flags: { timeout?: string }) => {
        const { handle, scheduler } = schedulerOfHandle(text);
        const timeoutMs = flags.timeout === undefined ? undefined : Number(flags.timeout) * 1000;
        const status = await waitForApplication(scheduler, handle, {
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          onChange: (current) => io.stderr.write(`${text}: ${current.state}\n`),
        });
        if (status.state === 'pending' || status.state === 'running') {
          io.stderr.write(`${text}: still ${status.state} after ${flags.timeout} s\n`);
          io.setExitCode(124);
          return;
        }
        (status.state === 'succeeded' ? io.stdout : io.stderr).write(`${applicationSummary(status)}\n`);
        io.setExitCode(exitCodeOf(status));
      });
  },
};
