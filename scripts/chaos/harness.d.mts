export type ChaosVictim = 'host' | 'runner' | 'ps';
export type ChaosSignal = 'SIGKILL' | 'SIGSTOP';
export type ChaosSize = 'short' | 'full';

export interface ChaosPlan {
  seed: number;
  scenario: string;
  victim: ChaosVictim;
  signal: ChaosSignal;
  atMs: number;
  pauseMs: number;
  pick: number;
  size: ChaosSize;
}

export interface ChaosResult {
  plan: ChaosPlan;
  skipped?: string;
  outcome?: string;
  exitCode?: number | string | null;
  seconds?: number;
  killed?: { victim: ChaosVictim; pid?: number; role?: string; atMs?: number };
  checks: Record<string, string>;
  violations: string[];
  /** Every process of the job seen while it ran. */
  processes?: { pid: number; role: string | undefined }[];
  stderrTail?: string;
}

export declare const scenarioNames: readonly string[];
export declare function random(seed: number): () => number;
export declare function planFor(
  seed: number,
  overrides?: Partial<Pick<ChaosPlan, 'scenario' | 'victim' | 'signal' | 'size' | 'atMs'>>,
): ChaosPlan;
export declare function runChaos(
  plan: ChaosPlan,
  options?: { log?: (line: string) => void },
): Promise<ChaosResult>;
export declare function formatRun(result: ChaosResult): string;
