import { existsSync, readFileSync } from 'node:fs';

/** A JSON file's content, or undefined when it is absent or caught mid-write (the next read sees it whole). */
export function readJsonFile<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
