export declare const startTime: number;
export declare function seededRandom(seed: number): () => number;
export declare function clickLogLine(i: number, users: number, seed?: number): string;
export declare function profileChangelog(
  users: number,
): Generator<{ user: string; country: string; tier: string }>;
