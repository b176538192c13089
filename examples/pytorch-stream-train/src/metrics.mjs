/** Accuracy (threshold 1/2) and ROC AUC of probabilities against 0/1 outcomes. */

export function accuracy(probabilities, outcomes) {
  let correct = 0;
  probabilities.forEach((p, i) => {
    if (p >= 0.5 === outcomes[i]) correct += 1;
  });
  return correct / probabilities.length;
}

/** AUC by the rank-sum (Mann-Whitney) formula, with ties sharing their average rank. */
export function areaUnderRoc(probabilities, outcomes) {
  const order = probabilities.map((p, i) => [p, outcomes[i]]).sort((a, b) => a[0] - b[0]);
  let positives = 0;
  let rankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end < order.length && order[end][0] === order[start][0]) end++;
    const averageRank = (start + 1 + end) / 2;
    for (let i = start; i < end; i++) {
      if (order[i][1]) {
        positives += 1;
        rankSum += averageRank;
      }
    }
    start = end;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
