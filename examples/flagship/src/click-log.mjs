/**
 * A generated ad-impression log and user profiles, standing in for a Kafka topic and a profile
 * table. Everything is seeded: the same seed gives the same records, so the AUC the README states
 * is reproducible.
 *
 * Whether an impression is clicked follows a hidden logistic model: ad-interest match, ad
 * quality, position, device × age, tier, country, and a latent per-user propensity that only shows
 * through the user's history (the windowed counts the pipeline computes).
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

function normal(random) {
  return Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
}

export const startTime = Date.parse('2026-01-01T00:00:00Z');
/** Event time between impressions; a 10 s window holds 5000 impressions (~5 per user). */
export const impressionSpacingMs = 2;
export const categories = 5;
export const countries = ['NO', 'SE', 'DE', 'FR', 'US'];
export const adCount = 30;
export const positions = 4;

/** The world of a seed: users (with hidden traits) and ads. */
export function createWorld({ users = 1000, seed = 7 } = {}) {
  const random = seededRandom(seed);
  const people = Array.from({ length: users }, (_, index) => {
    const activity = Math.exp(0.9 * normal(random));
    return {
      user: `u${index}`,
      interest: Math.floor(random() * categories),
      tier: random() < 0.2 ? 'gold' : 'basic',
      country: countries[Math.floor(random() * countries.length)],
      age: Math.round((18 + random() * 50) * 10) / 10,
      activity,
      // Hidden: more active users click more, but not only because of that.
      propensity: 0.5 * Math.log(activity) + 0.6 * normal(random),
    };
  });
  const cumulative = [];
  let total = 0;
  for (const person of people) {
    total += person.activity;
    cumulative.push(total);
  }
  const ads = Array.from({ length: adCount }, (_, ad) => ({
    ad,
    category: ad % categories,
    quality: random() * 2 - 1,
  }));
  return { seed, people, cumulative, total, ads };
}

function pickUser(world, value) {
  const target = value * world.total;
  let low = 0;
  let high = world.cumulative.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (world.cumulative[middle] < target) low = middle + 1;
    else high = middle;
  }
  return world.people[low];
}

/** The i-th line of the impression log: `time,user,ad,position,device,clicked`. */
export function impressionLine(world, i) {
  const random = seededRandom(world.seed * 1_000_003 + i * 7919);
  const person = pickUser(world, random());
  const ad = world.ads[Math.floor(random() * world.ads.length)];
  const position = 1 + Math.floor(random() * positions);
  const mobile = random() < 0.6;
  const logit =
    -2.3 +
    1.7 * (ad.category === person.interest ? 1 : 0) +
    0.8 * ad.quality -
    0.45 * (position - 1) +
    0.5 * (person.tier === 'gold' ? 1 : 0) +
    0.9 * person.propensity +
    0.6 * (mobile && person.age < 30 ? 1 : 0) -
    0.4 * (person.country === 'US' ? 1 : 0);
  const clicked = random() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
  const time = new Date(startTime + i * impressionSpacingMs).toISOString();
  return `${time},${person.user},${ad.ad},${position},${mobile ? 'mobile' : 'desktop'},${clicked}`;
}

/** The profile table (what a CDC stream of the users table would carry); no hidden traits. */
export function* profiles(world) {
  for (const person of world.people) {
    yield {
      user: person.user,
      interest: person.interest,
      tier: person.tier,
      country: person.country,
      age: person.age,
    };
  }
}
