import type { Impression } from './click-stream.mjs';

export declare const featureCount: number;
export declare function featuresOf(impression: Omit<Impression, 'clicked' | 'id'>): Float32Array;
