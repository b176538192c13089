/**
 * Feature engineering, shared by the training and the prediction job:
 *
 *   impression log ─ parse ─ keyBy(user) ─ join profiles ─ keyBy(user) ─ windowed counts ─ encode
 *
 * The windowed counts are per user, over 10 s event-time tumbling windows: impressions so far in
 * the current window, and impressions and clicks in the previous one. A record's own label never
 * feeds its own features (only earlier windows' clicks do).
 */
import { adCount, categories, countries, positions } from './click-log.mjs';

export const windowMs = 10_000;

/** `2026-01-01T00:00:00.002Z,u3,17,2,mobile,0` → a typed impression; bad lines fail naming the line. */
export function parseImpression(line) {
  const [time, user, ad, position, device, clicked] = line.split(',');
  const timestamp = Date.parse(time);
  if (!user || Number.isNaN(timestamp) || (clicked !== '0' && clicked !== '1')) {
    throw new Error(`not an impression log line: ${line}`);
  }
  return {
    timestamp,
    user,
    ad: Number(ad),
    position: Number(position),
    mobile: device === 'mobile',
    clicked: Number(clicked),
  };
}

/** Per-user windowed counts, as a keyed process with per-key state. */
export const windowedCounts = {
  processElement(impression, { state, emit }) {
    const window = Math.floor(impression.timestamp / windowMs);
    let counts = state.get();
    if (!counts) counts = { window, impressions: 0, clicks: 0, previousImpressions: 0, previousClicks: 0 };
    if (window > counts.window) {
      const adjacent = window === counts.window + 1;
      counts = {
        window,
        impressions: 0,
        clicks: 0,
        previousImpressions: adjacent ? counts.impressions : 0,
        previousClicks: adjacent ? counts.clicks : 0,
      };
    }
    emit({
      ...impression,
      windowImpressions: counts.impressions,
      previousImpressions: counts.previousImpressions,
      previousClicks: counts.previousClicks,
    });
    counts.impressions += 1;
    counts.clicks += impression.clicked;
    state.set(counts);
  },
};

export const featureCount = adCount + categories + 1 + positions + 3 + 1 + countries.length + 4;

/** The model's input row for an enriched impression. */
export function encodeFeatures(record) {
  const features = new Array(featureCount).fill(0);
  let at = 0;
  features[at + record.ad] = 1;
  at += adCount;
  features[at + record.interest] = 1;
  at += categories;
  features[at] = record.ad % categories === record.interest ? 1 : 0;
  at += 1;
  features[at + record.position - 1] = 1;
  at += positions;
  features[at] = record.mobile ? 1 : 0;
  features[at + 1] = (record.age - 40) / 15;
  features[at + 2] = record.mobile && record.age < 30 ? 1 : 0;
  at += 3;
  features[at] = record.tier === 'gold' ? 1 : 0;
  at += 1;
  const country = countries.indexOf(record.country);
  if (country >= 0) features[at + country] = 1;
  at += countries.length;
  features[at] = Math.log1p(record.windowImpressions);
  features[at + 1] = Math.log1p(record.previousImpressions);
  features[at + 2] = Math.log1p(record.previousClicks);
  features[at + 3] = (record.previousClicks + 0.1) / (record.previousImpressions + 1);
  return features;
}

/**
 * Adds the feature pipeline to `job`: impression lines and profiles in, enriched impressions out.
 * @param {{ lines: import('@millrace/dataflow').DataStream<string>, profiles: import('@millrace/dataflow').DataStream<object>, parallelism: number }} inputs
 */
export function buildFeatures({ lines, profiles, parallelism }) {
  const impressions = lines.map(parseImpression, { name: 'parse', parallelism });
  const enriched = impressions
    .keyBy((impression) => impression.user)
    .joinTable(
      profiles.keyBy((profile) => profile.user),
      (impression, profile) => ({
        ...impression,
        interest: profile?.interest ?? 0,
        tier: profile?.tier ?? 'basic',
        country: profile?.country ?? 'unknown',
        age: profile?.age ?? 40,
      }),
      { type: 'left', name: 'join-profiles', parallelism },
    );
  return enriched
    .keyBy((impression) => impression.user)
    .process(windowedCounts, { name: 'windowed-counts', parallelism });
}
