import type { DataStream, WindowAggregator } from '@millrace/dataflow';

export interface Click {
  timestamp: number;
  user: string;
  page: string;
  action: string;
}
export interface Profile {
  user: string;
  country: string;
  tier: string;
}
export interface EnrichedClick extends Click {
  country: string;
  tier: string;
}
export interface FeatureRow {
  user: string;
  windowStart: string;
  events: number;
  clicks: number;
  addToCart: number;
  distinctPages: number;
  clickRate: number;
  country: string;
  tier: string;
}
export declare function parseClick(line: string): Click;
export declare const clickFeatures: WindowAggregator<EnrichedClick, unknown, FeatureRow, string>;
export declare function buildFeaturePipeline(inputs: {
  clickLog: DataStream<string>;
  profiles: DataStream<Profile>;
  parallelism?: number;
  windowMs?: number;
}): DataStream<FeatureRow>;
