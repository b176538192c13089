/**
 * The training module: the flagship's model and example decoding (including its `--chaos` kill of
 * worker[1]), imported by every training process.
 */
export { chaosVariable, createModel, decodeExample } from '@millrace/example-flagship/model';
