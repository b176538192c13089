import { parseWithSchema } from '@millrace/core';
import { z } from 'zod';

/** The process-group backends the engine knows; `auto` is resolved inside each worker process. */
export const pytorchBackends = ['auto', 'gloo', 'nccl'] as const;
export type PytorchBackend = (typeof pytorchBackends)[number];

export const pytorchEngineSettingsSchema = z
  .object({
    /** Name the engine registers under; cluster configs select it by this name. */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, 'must be a lower-case identifier')
      .default('pytorch'),
    /**
     * Process-group backend handed to workers as `MILLRACE_TORCH_BACKEND`. `auto` (the default)
     * picks nccl when the worker sees CUDA and gloo otherwise, so a CPU-only host never needs nccl.
     */
    backend: z.enum(pytorchBackends).default('auto'),
    /**
     * `OMP_NUM_THREADS` for each worker. torchrun sets 1 when several workers share a host, so the
     * workers do not oversubscribe the cores; `0` leaves the variable unset.
     */
    threadsPerWorker: z.number().int().min(0).default(1),
  })
  .strict();

export type PytorchEngineSettingsInput = z.input<typeof pytorchEngineSettingsSchema>;
export type PytorchEngineSettings = z.output<typeof pytorchEngineSettingsSchema>;

/** Validates engine settings, throwing a ConfigError that names the bad field. */
export function parsePytorchEngineSettings(input: unknown): PytorchEngineSettings {
  return parseWithSchema(pytorchEngineSettingsSchema, input ?? {}, 'pytorch engine settings');
}
