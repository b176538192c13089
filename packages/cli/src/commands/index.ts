import type { CliCommand } from '../command.js';
import { amCommand } from './am.js';
import { dashboardCommand } from './dashboard.js';
import { logsCommand } from './logs.js';
import { nodeCommand } from './node.js';
import { pytorchCommand } from './pytorch.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';
import { stopCommand } from './stop.js';
import { submitCommand } from './submit.js';
import { waitCommand } from './wait.js';

/** Every `millrace` command, in help order. A new command is one file and one entry here. */
export const commands: readonly CliCommand[] = [
  runCommand,
  amCommand,
  nodeCommand,
  statusCommand,
  stopCommand,
  dashboardCommand,
  pytorchCommand,
  submitCommand,
  waitCommand,
  logsCommand,
];
