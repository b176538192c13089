import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where this machine remembers the applications it submitted: `MILLRACE_STATE_DIR`, else
 * `$XDG_STATE_HOME/millrace`, else `~/.local/state/millrace`. Local applications live here whole
 * (their logs and exit files); for Slurm it only maps a job id to its shared directory.
 */
export function stateDirectory(environment: NodeJS.ProcessEnv = process.env): string {
  if (environment.MILLRACE_STATE_DIR) return environment.MILLRACE_STATE_DIR;
  const base = environment.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'millrace');
}
