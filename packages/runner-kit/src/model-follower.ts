/**
 * Follows the model versions a training cluster publishes in a checkpoint directory: polls the
 * versions directory, loads each version the policy picks in the background, checks it (readable,
 * compatible with the model serving, accepted by the gate) and holds it ready. The prediction
 * operator takes the ready model between two batches, so a batch is always scored by one model
 * and a swap neither drops, repeats nor reorders a record. A refused version is disposed and
 * never served; the model serving keeps serving.
 */
import {
  type Logger,
  MillraceTimeoutError,
  type ModelVersion,
  ModelVersionRejectedError,
  type ModelVersionRejection,
} from '@millrace/core';
import { modelVersionNumbers, readModelVersion } from './model-versions.js';

/** Which published versions are served: every newest one, or one in every `everyVersions`. */
export type ModelVersionPolicy = 'latest' | { everyVersions: number };

/** A model and the version it was published as (undefined for a starting model given by path). */
export interface VersionedModel<M> {
  version: ModelVersion | undefined;
  model: M;
}

export interface ModelFollowerOptions<M> {
  /** The checkpoint directory whose `versions/` the trainer publishes into. */
  directory: string;
  policy?: ModelVersionPolicy | undefined;
  /** How often the versions directory is read. Default 100 ms. */
  pollMs?: number | undefined;
  /** Loads the model a version points at; a rejection refuses the version as `unreadable`. */
  load(version: ModelVersion): Promise<M>;
  /** Why `candidate` cannot replace `serving` (e.g. another input shape), or undefined when it can. */
  incompatibility?(candidate: M, serving: M): string | undefined;
  /** Decides whether a loaded, compatible version is served (a held-out metric check). */
  gate?(candidate: VersionedModel<M>, serving: VersionedModel<M> | undefined): boolean | Promise<boolean>;
  dispose(model: M): void;
  /** Every refused version, after it was disposed. */
  onRefused?(error: ModelVersionRejectedError): void;
  logger?: Logger | undefined;
}

export class ModelFollower<M> {
  readonly #options: ModelFollowerOptions<M>;
  readonly #every: number;
  readonly #stop = new AbortController();
  #serving: VersionedModel<M> | undefined;
  #ready: VersionedModel<M> | undefined;
  #newestConsidered = 0;
  #polling: Promise<void> | undefined;
  #readyWaiters: (() => void)[] = [];

  constructor(options: ModelFollowerOptions<M>) {
    const policy = options.policy ?? 'latest';
    this.#every = policy === 'latest' ? 1 : policy.everyVersions;
    if (!Number.isInteger(this.#every) || this.#every < 1) {
      throw new RangeError(
        `follow.policy.everyVersions must be a positive integer, got ${String(this.#every)}`,
      );
    }
    this.#options = options;
  }

  /** The model serving now (set by {@link start} or {@link take}). */
  get serving(): VersionedModel<M> | undefined {
    return this.#serving;
  }

  /** Starts polling; `serving` is the starting model, if the caller has one. */
  start(serving?: VersionedModel<M>): void {
    this.#serving = serving;
    this.#polling ??= this.#poll();
  }

  /** The newest accepted version not yet served, which becomes the serving one; undefined when none. */
  take(): VersionedModel<M> | undefined {
    const ready = this.#ready;
    if (!ready) return undefined;
    this.#ready = undefined;
    this.#serving = ready;
    return ready;
  }

  /** Resolves once a version is ready to take; rejects with a MillraceTimeoutError after `timeoutMs`. */
  async waitForReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#ready) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new MillraceTimeoutError(
            'the first model version',
            timeoutMs,
            `nothing servable was published in ${this.#options.directory}/versions (is the trainer publishing there?)`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#readyWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Stops polling and disposes a version that was loaded but never taken. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#polling;
    if (this.#ready) this.#options.dispose(this.#ready.model);
    this.#ready = undefined;
    for (const waiter of this.#readyWaiters.splice(0)) waiter();
  }

  async #poll(): Promise<void> {
    const pollMs = this.#options.pollMs ?? 100;
    while (!this.#stop.signal.aborted) {
      try {
        const newest = (await modelVersionNumbers(this.#options.directory)).at(-1);
        if (newest !== undefined && newest > this.#newestConsidered && this.#due(newest)) {
          this.#newestConsidered = newest;
          await this.#consider(newest);
        }
      } catch (error) {
        this.#options.logger?.warn('cannot read the published model versions', {
          directory: this.#options.directory,
          error: (error as Error).message,
        });
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.#stop.signal.removeEventListener('abort', wake);
          resolve();
        }, pollMs);
        this.#stop.signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** Whether the policy serves `version`: always when nothing serves yet, else every `every`th. */
  #due(version: number): boolean {
    const base = this.#ready?.version ?? this.#serving?.version;
    if (base === undefined) return true;
    return version >= base.version + this.#every;
  }

  async #consider(number: number): Promise<void> {
    const refuse = (path: string, reason: ModelVersionRejection, message: string, cause?: unknown) => {
      const error = new ModelVersionRejectedError({ version: number, path, reason, message }, { cause });
      this.#options.logger?.warn(error.message, { version: number, reason });
      this.#options.onRefused?.(error);
    };
    let version: ModelVersion;
    try {
      version = await readModelVersion(this.#options.directory, number);
    } catch (cause) {
      refuse(this.#options.directory, 'unreadable', (cause as Error).message, cause);
      return;
    }
    let model: M;
    try {
      model = await this.#options.load(version);
    } catch (cause) {
      refuse(version.path, 'unreadable', (cause as Error).message, cause);
      return;
    }
    if (this.#stop.signal.aborted) {
      this.#options.dispose(model);
      return;
    }
    const candidate: VersionedModel<M> = { version, model };
    const current = this.#ready ?? this.#serving;
    const problem = current ? this.#options.incompatibility?.(model, current.model) : undefined;
    if (problem !== undefined) {
      this.#options.dispose(model);
      refuse(version.path, 'incompatible', problem);
      return;
    }
    let accepted = true;
    try {
      accepted = this.#options.gate ? await this.#options.gate(candidate, current) : true;
    } catch (cause) {
      this.#options.dispose(model);
      refuse(version.path, 'gate-rejected', `the gate threw: ${(cause as Error).message}`, cause);
      return;
    }
    if (!accepted) {
      this.#options.dispose(model);
      refuse(version.path, 'gate-rejected', 'the gate did not accept it');
      return;
    }
    if (this.#ready) this.#options.dispose(this.#ready.model); // superseded before it served a batch
    this.#ready = candidate;
    this.#options.logger?.info('model version ready', { version: number, step: version.step });
    for (const waiter of this.#readyWaiters.splice(0)) waiter();
  }
}
