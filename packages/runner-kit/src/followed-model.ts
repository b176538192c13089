/**
 * The model a prediction operator serves, following published model versions: what
 * `predictWithTensorflow` and `predictWithOnnx` share, so both follow, gate, swap and report
 * versions the same way. The operator gives the model-specific parts (load, shape check, a
 * held-out prediction, dispose); this class starts the {@link ModelFollower}, measures the gate's
 * held-out loss, swaps only when the operator asks (between two batches) and counts and
 * publishes every swap and refusal on the operator's context.
 */
import type { Logger, ModelVersion, ModelVersionRejectedError } from '@millrace/core';
import { ModelFollower, type ModelVersionPolicy, type VersionedModel } from './model-follower.js';

/** A held-out set for the gate: `count` rows of features and labels, row-major. */
export interface HeldOutSet {
  features: Float32Array;
  labels: Float32Array;
  count: number;
}

/** A model version as the gate sees it: its held-out loss (lower is better). */
export interface GatedVersion {
  /** Undefined for the starting model the operator was given by path. */
  version: ModelVersion | undefined;
  /** Binary cross-entropy on the held-out set for a one-output model, mean squared error otherwise. */
  heldOutLoss: number;
}

export interface FollowOptions {
  /** The training cluster's checkpoint directory (the trainer publishes versions under `versions/`). */
  directory: string;
  /** `latest` (default): serve each newest version once loaded; `{ everyVersions: n }`: one in n. */
  policy?: ModelVersionPolicy | undefined;
  /** How often the versions directory is read. Default 100 ms. */
  pollMs?: number | undefined;
  /**
   * Decides from the held-out loss whether a new version is served; a rejected version never is.
   * `serving` is undefined before the first version.
   */
  gate?:
    | {
        heldOut: HeldOutSet;
        accept(candidate: GatedVersion, serving: GatedVersion | undefined): boolean;
      }
    | undefined;
  /** Without a starting model, how long `open` waits for the first servable version. Default 120 s. */
  firstVersionTimeoutMs?: number | undefined;
  /** Where refusals (warn) and swaps (info) are logged. Default: warnings to the console. */
  logger?: Logger | undefined;
}

/** The part of an operator's subtask context a followed model reports on. */
export interface FollowedModelEvents {
  count(metric: string, delta?: number): void;
  publish(payload: unknown): void;
  readonly signal: AbortSignal;
}

export interface FollowedModelOptions<M> {
  /** Operator name for log lines, e.g. `predictWithOnnx`. */
  operator: string;
  /** The model given by path, served until the first version arrives. */
  starting?: M | undefined;
  follow?: FollowOptions | undefined;
  events: FollowedModelEvents;
  load(version: ModelVersion): Promise<M>;
  /** Why `candidate` cannot replace `serving` (another input or output shape), else undefined. */
  incompatibility(candidate: M, serving: M): string | undefined;
  /** The model's outputs for the gate's held-out features (`count` rows). */
  predictHeldOut(model: M, heldOut: HeldOutSet): Float32Array | Promise<Float32Array>;
  dispose(model: M): void | Promise<void>;
}

/** Binary cross-entropy for a one-output model, mean squared error otherwise. */
export function heldOutLoss(predictions: Float32Array, heldOut: HeldOutSet): number {
  let sum = 0;
  if (predictions.length === heldOut.count) {
    for (let row = 0; row < heldOut.count; row++) {
      const p = Math.min(1 - 1e-7, Math.max(1e-7, predictions[row]!));
      const y = heldOut.labels[row]!;
      sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
    }
    return sum / heldOut.count;
  }
  for (let index = 0; index < predictions.length; index++) {
    const difference = predictions[index]! - heldOut.labels[index]!;
    sum += difference * difference;
  }
  return sum / predictions.length;
}

export class FollowedModel<M> {
  readonly #options: FollowedModelOptions<M>;
  #serving: VersionedModel<M> | undefined;
  #follower: ModelFollower<M> | undefined;
  /** Held-out loss of each version the gate accepted, by version number (0: the starting model). */
  readonly #gatedLoss = new Map<number, number>();

  private constructor(options: FollowedModelOptions<M>) {
    this.#options = options;
  }

  /**
   * Serves `starting` and, with `follow`, starts following; without a starting model it waits
   * (bounded by `firstVersionTimeoutMs`) for the first servable version.
   */
  static async open<M>(options: FollowedModelOptions<M>): Promise<FollowedModel<M>> {
    const served = new FollowedModel(options);
    await served.#open();
    return served;
  }

  /** Whether new versions may arrive (the operator then lets its event loop turn now and then). */
  get following(): boolean {
    return this.#follower !== undefined;
  }

  /** The model serving now; throws when none is (the operator was not opened). */
  get serving(): VersionedModel<M> {
    if (!this.#serving)
      throw new Error(`${this.#options.operator}: no model is serving (open did not finish)`);
    return this.#serving;
  }

  async #open(): Promise<void> {
    const { follow, starting, events } = this.#options;
    const gate = follow?.gate;
    if (starting !== undefined) {
      this.#serving = { version: undefined, model: starting };
      if (gate)
        this.#gatedLoss.set(
          0,
          heldOutLoss(await this.#options.predictHeldOut(starting, gate.heldOut), gate.heldOut),
        );
    }
    if (!follow) return;
    const operator = this.#options.operator;
    const logger: Logger = follow.logger ?? {
      debug: () => {},
      info: () => {},
      warn: (message, fields) => console.warn(`${operator}: ${message}`, fields ?? ''),
      error: (message, fields) => console.error(`${operator}: ${message}`, fields ?? ''),
    };
    this.#follower = new ModelFollower<M>({
      directory: follow.directory,
      policy: follow.policy,
      pollMs: follow.pollMs,
      logger,
      load: (version) => this.#options.load(version),
      incompatibility: (candidate, serving) => this.#options.incompatibility(candidate, serving),
      gate: gate
        ? async (candidate, serving) => {
            const loss = heldOutLoss(
              await this.#options.predictHeldOut(candidate.model, gate.heldOut),
              gate.heldOut,
            );
            const servingLoss = serving ? this.#gatedLoss.get(serving.version?.version ?? 0) : undefined;
            const accepted = gate.accept(
              { version: candidate.version, heldOutLoss: loss },
              serving && servingLoss !== undefined
                ? { version: serving.version, heldOutLoss: servingLoss }
                : undefined,
            );
            if (accepted) this.#gatedLoss.set(candidate.version?.version ?? 0, loss);
            return accepted;
          }
        : undefined,
      dispose: (model) => this.#dispose(model),
      onRefused: (error: ModelVersionRejectedError) => {
        events.count('model_versions_refused');
        events.publish({
          type: 'model-version-refused',
          version: error.version,
          reason: error.reason,
          message: error.message,
        });
      },
    });
    this.#follower.start(this.#serving);
    if (!this.#serving) {
      await this.#follower.waitForReady(follow.firstVersionTimeoutMs ?? 120_000, events.signal);
      this.swap();
      if (!this.#serving) {
        throw new Error(
          `${operator}: stopped before the first model version of ${follow.directory} was served`,
        );
      }
    }
  }

  /**
   * Takes the newest ready version, if any; the one it replaces is disposed. Call it only between
   * two batches: every batch is then scored by exactly one version. Synchronous, so an operator
   * with a synchronous batch path keeps it.
   */
  swap(): void {
    const next = this.#follower?.take();
    if (!next) return;
    const previous = this.#serving;
    this.#serving = next;
    if (previous) this.#dispose(previous.model);
    this.#options.events.count('model_swaps');
    this.#options.events.publish({
      type: 'model-version-served',
      version: next.version?.version,
      step: next.version?.step,
      publishedAt: next.version?.publishedAt,
      servedAt: new Date().toISOString(),
    });
    this.#options.follow?.logger?.info('serving model version', {
      version: next.version?.version,
      step: next.version?.step,
    });
  }

  #dispose(model: M): void {
    // The replaced model scored its last batch before the swap, so nothing waits for it to go.
    Promise.resolve()
      .then(() => this.#options.dispose(model))
      .catch((error: unknown) =>
        console.warn(
          `${this.#options.operator}: disposing a replaced model failed: ${(error as Error).message}`,
        ),
      );
  }

  /** Stops following and disposes the serving model and any loaded, never-served version. */
  async close(): Promise<void> {
    await this.#follower?.close();
    this.#follower = undefined;
    const serving = this.#serving;
    this.#serving = undefined;
    if (serving) await this.#options.dispose(serving.model);
  }
}
