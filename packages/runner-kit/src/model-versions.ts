/**
 * Publishing and reading model versions on disk (the manifest format is core's `ModelVersion`).
 * Publishing writes the manifest to a private temporary file and then hard-links it to its
 * numbered name: `link` is atomic and fails when the name exists, so two publishers racing for
 * the same number never overwrite each other (the loser takes the next number) and a reader
 * never sees a half-written manifest.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type ModelVersion,
  modelVersionFileName,
  modelVersionOfFileName,
  modelVersionsDirectoryName,
  parseModelVersion,
} from '@millrace/core';

export interface PublishModelVersionOptions {
  /** The model's directory (or file); it must be completely written before publishing. */
  path: string;
  /** Storage format of the model at `path`. Default `tfjs-layers-model`. */
  format?: string | undefined;
  /** Global training step of the model. */
  step: number;
  /** How far into its input the trainer had read, when it tracks that. */
  inputPosition?: Record<string, number> | undefined;
  /** Held-out metrics measured by the publisher. */
  metrics?: Record<string, number> | undefined;
}

/** The directory holding `checkpointDirectory`'s version manifests. */
export function modelVersionsDirectory(checkpointDirectory: string): string {
  return join(checkpointDirectory, modelVersionsDirectoryName);
}

/** Publishes the next version of the model in `checkpointDirectory`; resolves with its manifest. */
export async function publishModelVersion(
  checkpointDirectory: string,
  options: PublishModelVersionOptions,
): Promise<ModelVersion> {
  const directory = modelVersionsDirectory(checkpointDirectory);
  await mkdir(directory, { recursive: true });
  const temporary = join(directory, `.publish-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    let version = ((await modelVersionNumbers(checkpointDirectory)).at(-1) ?? 0) + 1;
    for (;;) {
      const manifest: ModelVersion = {
        specificationVersion: 'v1',
        version,
        path: resolve(options.path),
        format: options.format ?? 'tfjs-layers-model',
        step: options.step,
        ...(options.inputPosition ? { inputPosition: options.inputPosition } : {}),
        ...(options.metrics ? { metrics: options.metrics } : {}),
        publishedAt: new Date().toISOString(),
      };
      await writeFile(temporary, JSON.stringify(manifest));
      try {
        await link(temporary, join(directory, modelVersionFileName(version)));
        return manifest;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        version += 1; // another publisher took this number
      }
    }
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Published version numbers in `checkpointDirectory`, ascending (empty when none). */
// Reads are synchronous for the reason model-io.ts gives: a follower polls from a busy pipeline.
export async function modelVersionNumbers(checkpointDirectory: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = readdirSync(modelVersionsDirectory(checkpointDirectory));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    entries = [];
  }
  return entries
    .map(modelVersionOfFileName)
    .filter((version): version is number => version !== undefined)
    .sort((a, b) => a - b);
}

/** The manifest of `version`; rejects with a MillraceError when it is missing or malformed. */
export async function readModelVersion(checkpointDirectory: string, version: number): Promise<ModelVersion> {
  const file = join(modelVersionsDirectory(checkpointDirectory), modelVersionFileName(version));
  const text = readFileSync(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return parseModelVersion(json, file);
}

/** The newest published version, or undefined when none was published yet. */
export async function latestModelVersion(checkpointDirectory: string): Promise<ModelVersion | undefined> {
  const newest = (await modelVersionNumbers(checkpointDirectory)).at(-1);
  return newest === undefined ? undefined : readModelVersion(checkpointDirectory, newest);
}
