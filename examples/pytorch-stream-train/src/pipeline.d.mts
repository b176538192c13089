import type { RunnerContext } from '@millrace/core';
import type { Job } from '@millrace/dataflow';
import type { tensorFrame } from '@millrace/plugin-pytorch';
import type { Impression } from './click-stream.mjs';

export declare const defaults: {
  trainingImpressions: number;
  heldOutImpressions: number;
  seed: number;
  workers: number;
  batchSize: number;
};

/** Rows of impressions as one tensor frame: `features` [rows, 8] and `label` [rows]. */
export declare function trainingFrame(rows: readonly Impression[]): ReturnType<typeof tensorFrame>;

export declare const statedQuality: {
  accuracyGap: number;
  aucGap: number;
  torchOnnxTolerance: number;
};

export interface TrainAndPredictOptions extends Partial<typeof defaults> {
  /** Where checkpoints and model.onnx go; a temporary directory (removed at the end) when omitted. */
  checkpointDirectory?: string;
  /** The Python interpreter (must import torch); discovered when omitted. */
  python?: string;
  signal?: AbortSignal;
  track?(job: Job): void;
  log?(message: string): void;
  /** Where training workers' output lines go. Default: this process's stdout, prefixed. */
  workerOutput?:
    | 'inherit'
    | 'ignore'
    | 'logger'
    | ((line: string, stream: 'stdout' | 'stderr', context: RunnerContext) => void);
  onStep?(step: { worker: number; step: number; loss: number; samples: number }): void;
}

export interface TrainAndPredictResult {
  /** Each worker's last reported training metrics (step, loss, samples). */
  trainingMetrics: Record<number, Readonly<Record<string, number>>>;
  /** Cluster restarts during training. */
  restarts: number;
  heldOut: number;
  torchPredictions: number;
  accuracy: number;
  auc: number;
  oracleAccuracy: number;
  oracleAuc: number;
  maxTorchOnnxDifference: number;
}

export declare function trainAndPredict(options?: TrainAndPredictOptions): Promise<TrainAndPredictResult>;
export declare function qualityProblems(result: TrainAndPredictResult): string[];
