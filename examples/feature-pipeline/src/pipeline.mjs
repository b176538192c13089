/**
 * The feature pipeline, as a function of a Job so that the CLI entry point, a test or another
 * program can build it:
 *
 *   click log ─ parse ─ keyBy(user) ─┐
 *                                    joinTable ─ keyBy(user) ─ 10 s tumbling window ─ features
 *   profiles ─────────── keyBy(user) ┘
 */

/** `2026-01-01T00:00:00.012Z,u3,/cart,click` → a typed click; bad lines fail with the line. */
export function parseClick(line) {
  const [time, user, page, action] = line.split(',');
  const timestamp = Date.parse(time);
  if (!user || !page || !action || Number.isNaN(timestamp)) throw new Error(`not a click log line: ${line}`);
  return { timestamp, user, page, action };
}

/** Per user and window: counts that a model would take as features. */
export const clickFeatures = {
  create: () => ({ events: 0, clicks: 0, carts: 0, pages: new Set(), country: '', tier: '' }),
  add(accumulator, click) {
    accumulator.events += 1;
    if (click.action === 'click') accumulator.clicks += 1;
    if (click.action === 'add-to-cart') accumulator.carts += 1;
    accumulator.pages.add(click.page);
    accumulator.country = click.country;
    accumulator.tier = click.tier;
    return accumulator;
  },
  result(accumulator, window) {
    return {
      user: window.key,
      windowStart: new Date(window.start).toISOString(),
      events: accumulator.events,
      clicks: accumulator.clicks,
      addToCart: accumulator.carts,
      distinctPages: accumulator.pages.size,
      clickRate: Math.round((accumulator.clicks / accumulator.events) * 1000) / 1000,
      country: accumulator.country,
      tier: accumulator.tier,
    };
  },
};

/**
 * Builds the pipeline on the two input streams and returns the feature stream.
 * @param {{ clickLog: import('@millrace/dataflow').DataStream<string>, profiles: import('@millrace/dataflow').DataStream<{user: string, country: string, tier: string}>, parallelism?: number, windowMs?: number }} inputs
 */
export function buildFeaturePipeline({ clickLog, profiles, parallelism = 2, windowMs = 10_000 }) {
  const clicks = clickLog.map(parseClick, { name: 'parse', parallelism });
  const enriched = clicks
    .keyBy((click) => click.user)
    .joinTable(
      profiles.keyBy((profile) => profile.user),
      (click, profile) => ({
        ...click,
        country: profile?.country ?? 'unknown',
        tier: profile?.tier ?? 'unknown',
      }),
      { type: 'left', name: 'join-profiles', parallelism },
    );
  return enriched
    .keyBy((click) => click.user)
    .tumblingWindow(
      { sizeMs: windowMs, timestamp: (click) => click.timestamp, allowedLatenessMs: 1_000 },
      clickFeatures,
      {
        name: 'window-features',
        parallelism,
      },
    );
}
