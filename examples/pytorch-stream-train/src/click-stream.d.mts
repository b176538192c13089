export declare const slots: readonly ['top', 'side', 'feed'];
export type Slot = (typeof slots)[number];

export interface Impression {
  id: number;
  /** Hour of day, 0-23. */
  hour: number;
  slot: Slot;
  /** The advertiser's quality score, 0-1. */
  adQuality: number;
  /** How well the ad's topic matches the user's history, roughly N(0, 1). */
  userAffinity: number;
  /** Ads the user saw in the last hour. */
  recentImpressions: number;
  /** Price level of the advertised product, 1-5. */
  priceLevel: number;
  clicked: boolean;
}

export declare const trueWeights: Float32Array;
export declare const trueBias: number;
export declare function trueClickProbability(features: ArrayLike<number>): number;
export declare function seededRandom(seed: number): () => number;
export declare function impressions(count: number, seed: number, firstId?: number): Generator<Impression>;
