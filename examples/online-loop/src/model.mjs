/**
 * The training module: the flagship's model and example decoding (including its `--chaos` kill of
 * worker[1]), imported by every training process.
 */
import { createModel as createFlagshipModel } from '@millrace/example-flagship/model';

export { chaosVariable, decodeExample } from '@millrace/example-flagship/model';

// Version 1, the untrained model, scores every impression 0.5: the first window's AUC is then 0.5
// on every run, not whatever random initial weights happen to rank (0.43–0.60 measured), so the
// rise the example shows is the loop's doing, not the luck of the draw. The parameter server
// starts from the same model, so version 1 is also where training starts.
export function createModel() {
  return createFlagshipModel({ outputStartsAtZero: true });
}
