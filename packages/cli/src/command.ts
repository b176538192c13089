import type { Command } from 'commander';

/** Where a command writes; injectable so tests can run commands in-process. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  /** Set the process exit code (the bin sets `process.exitCode`). */
  setExitCode(code: number): void;
}

/** One `millrace <name>` command. Each lives in its own file under `commands/`. */
export interface CliCommand {
  readonly name: string;
  register(program: Command, io: CliIo): void;
}
