/**
 * Feature engineering: a raw impression becomes 8 numbers, centred and scaled so a small network
 * converges in one pass. The same function feeds training (through the ring into the torch
 * workers) and both prediction paths (torch on the prediction role, ONNX in process).
 */
export const featureCount = 8;

export function featuresOf(impression) {
  const angle = (2 * Math.PI * impression.hour) / 24;
  return Float32Array.of(
    impression.userAffinity,
    (impression.adQuality - 0.5) * 3.4, // uniform(0, 1) → about unit variance
    Math.sin(angle) * 1.4,
    Math.cos(angle) * 1.4,
    impression.slot === 'top' ? 1 : 0,
    impression.slot === 'side' ? 1 : 0,
    (impression.recentImpressions - 4.5) / 2.9,
    (impression.priceLevel - 3) / 1.4,
  );
}
