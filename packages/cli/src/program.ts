import { readFileSync } from 'node:fs';
import { MillraceError } from '@millrace/core';
import { removeLeftoversOfDeadProcesses } from '@millrace/runtime';
import { Command, CommanderError } from 'commander';
import type { CliCommand, CliIo } from './command.js';
import { commands as builtInCommands } from './commands/index.js';

/** This CLI's version, from its package.json (one directory above both `src/` and `dist/`). */
export function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

export function createProgram(io: CliIo, commands: readonly CliCommand[] = builtInCommands): Command {
  const program = new Command('millrace')
    .description('Run distributed deep-learning clusters inside TypeScript dataflow pipelines')
    .version(cliVersion(), '-V, --version', 'print the version of millrace')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  for (const command of commands) command.register(program, io);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI with `argv` (as `process.argv`); errors become a message and exit code 1 or 2. */
export async function main(argv: readonly string[], io: CliIo): Promise<void> {
  // Any start of the CLI removes what crashed Millrace processes of this user left behind (their
  // rings in /dev/shm, their temporary job folders): a SIGKILLed process cannot clean up itself.
  await removeLeftoversOfDeadProcesses();
  try {
    await createProgram(io).parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      io.setExitCode(error.exitCode === 0 ? 0 : 2);
      return;
    }
    io.stderr.write(
      `millrace: ${MillraceError.isInstance(error) ? error.message : ((error as Error)?.stack ?? String(error))}\n`,
    );
    io.setExitCode(1);
  }
}
