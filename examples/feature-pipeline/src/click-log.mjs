/**
 * A generated click log and user-profile changelog, standing in for a Kafka topic and a CDC
 * stream. Seeded, so every run produces the same records.
 */

/** mulberry32: a tiny seedable PRNG, uniform in [0, 1). */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const startTime = Date.parse('2026-01-01T00:00:00Z');
const pages = ['/home', '/search', '/product/1', '/product/2', '/product/3', '/cart', '/checkout'];
const actions = ['view', 'view', 'view', 'click', 'click', 'add-to-cart'];

/**
 * The i-th line of the click log: `timestamp,user,page,action`, about 40 ms apart, so a
 * 10-second window holds ~250 clicks.
 */
export function clickLogLine(i, users, seed = 7) {
  const random = seededRandom(seed * 1_000_003 + i);
  const time = new Date(startTime + i * 40 + Math.floor(random() * 20)).toISOString();
  const user = `u${Math.floor(random() * users)}`;
  const page = pages[Math.floor(random() * pages.length)];
  const action = actions[Math.floor(random() * actions.length)];
  return `${time},${user},${page},${action}`;
}

/** One profile row per user (a changelog: a later row for a user would replace the earlier one). */
export function* profileChangelog(users) {
  const countries = ['NO', 'SE', 'DE', 'FR', 'US'];
  for (let u = 0; u < users; u++) {
    yield { user: `u${u}`, country: countries[u % countries.length], tier: u % 7 === 0 ? 'gold' : 'basic' };
  }
}
