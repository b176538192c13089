/**
 * A learnable click stream: ad impressions whose click probability follows a known logistic
 * ground truth over the engineered features. Because the truth is known, so is the best any model
 * can do on a sample (the oracle's accuracy and AUC), and the example can state how close it gets.
 * Everything is seeded (mulberry32), so a seed gives the same stream on every machine.
 */
import { featuresOf } from './features.mjs';

export const slots = /** @type {const} */ (['top', 'side', 'feed']);

/** The ground truth: P(click) = sigmoid(features · trueWeights + trueBias). */
export const trueWeights = Float32Array.from([1.6, 1.2, 0.6, -0.4, 0.9, -0.8, -1.1, -0.7]);
export const trueBias = -0.3;

export function trueClickProbability(features) {
  let logit = trueBias;
  for (let i = 0; i < trueWeights.length; i++) logit += trueWeights[i] * features[i];
  return 1 / (1 + Math.exp(-logit));
}

/** A small seedable PRNG (mulberry32): uniform in [0, 1). */
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

function gaussian(random) {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** `count` impressions from `seed`, ids from `firstId`: raw log records, with the click outcome. */
export function* impressions(count, seed, firstId = 0) {
  const random = seededRandom(seed);
  for (let n = 0; n < count; n++) {
    const impression = {
      id: firstId + n,
      hour: Math.floor(random() * 24),
      slot: slots[Math.floor(random() * slots.length)],
      adQuality: random(),
      userAffinity: gaussian(random),
      recentImpressions: Math.floor(random() * 10),
      priceLevel: 1 + Math.floor(random() * 5),
      clicked: false,
    };
    impression.clicked = random() < trueClickProbability(featuresOf(impression));
    yield impression;
  }
}
