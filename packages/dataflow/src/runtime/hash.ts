import { ConfigError } from '@millrace/core';

/** Keys a stream can be partitioned by: values with a stable identity across subtasks. */
export type Key = string | number | bigint | boolean;

/**
 * A stable, fast hash of a key (FNV-1a over the string form's UTF-16 units). It must give the same
 * answer in every subtask and thread, so it depends only on the key's value.
 */
export function hashKey(key: unknown): number {
  let text: string;
  if (typeof key === 'string') text = key;
  else if (typeof key === 'number') {
    if (Number.isInteger(key) && key >= 0 && key <= 0x7fffffff) return mixInteger(key);
    text = String(key);
  } else if (typeof key === 'bigint' || typeof key === 'boolean') text = String(key);
  else {
    throw new ConfigError(
      [
        {
          path: 'keyBy',
          message: `the key selector returned ${describe(key)}; keys must be a string, number, bigint or boolean`,
        },
      ],
      { subject: 'stream' },
    );
  }
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Throws the same error as {@link hashKey} for a value that cannot be a key. Keyed operators call
 * it so that a bad key fails at parallelism 1 too, not only once the job is scaled out.
 */
export function checkKey<K>(key: K): K {
  const type = typeof key;
  if (type === 'string' || type === 'number' || type === 'bigint' || type === 'boolean') return key;
  hashKey(key);
  return key;
}

function mixInteger(value: number): number {
  let h = Math.imul(value ^ (value >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : String(typeof value);
}
