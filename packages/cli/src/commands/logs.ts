import { schedulerOfHandle } from '@millrace/scheduler';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';

/** `millrace logs HANDLE [--host I]`: what the application's hosts wrote. */
export const logsCommand: CliCommand = {
  name: 'logs',
  register(program: Command, io: CliIo) {
    program
      .command('logs')
      .description("print a submitted application's output, host by host")
      .argument('<handle>', 'the handle `millrace submit` printed')
      .option('--host <index>', 'only this host')
      .action(async (text: string, flags: { host?: string }) => {
        const { handle, scheduler } = schedulerOfHandle(text);
        const logs = await scheduler.logs(
          handle,
          flags.host === undefined ? {} : { host: Number(flags.host) },
        );
        for (const log of logs) {
          if (flags.host === undefined) io.stdout.write(`==> host ${log.host} <==\n`);
          io.stdout.write(log.text.endsWith('\n') || log.text === '' ? log.text : `${log.text}\n`);
        }
      });
  },
};
