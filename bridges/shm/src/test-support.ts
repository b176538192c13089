// Helpers shared by this package's tests (not exported from the package).
import { rmSync } from 'node:fs';
import { afterEach } from 'vitest';
import { createRing, type RingLocation } from './create-ring.js';

const created: RingLocation[] = [];

/** A fresh ring removed after the test, whatever happened. */
export async function testRing(capacityBytes = 4096, codec = 'raw'): Promise<RingLocation> {
  const location = await createRing({ capacityBytes, codec });
  created.push(location);
  return location;
}

afterEach(() => {
  for (const location of created.splice(0)) rmSync(location.path, { force: true });
});

/** Record `index` of a deterministic stream: its index then a length-varying byte pattern. */
export function patternRecord(index: number, maxLength = 1000): Uint8Array {
  const length = 4 + ((index * 7919) % (maxLength - 3));
  const bytes = new Uint8Array(length);
  new DataView(bytes.buffer).setUint32(0, index, true);
  bytes.fill(index & 255, 4);
  return bytes;
}
