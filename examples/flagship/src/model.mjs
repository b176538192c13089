/**
 * The training module every TF.js training process imports (workers and the parameter server
 * alike): the model, and how a pipeline record becomes an example.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { Packr } from 'msgpackr';
import { featureCount } from './features.mjs';

/** Set by `--chaos` (see flagship.mjs): after this many records, worker[1] is killed with SIGKILL. */
export const chaosVariable = 'FLAGSHIP_CHAOS_AFTER_RECORDS';

/**
 * @param {{ outputStartsAtZero?: boolean }} [options] outputStartsAtZero: the output layer's
 *   weights start at zero, so the untrained model scores every example 0.5 (an AUC of exactly 0.5)
 *   instead of by whatever its random initial weights happen to rank well. Training is unaffected:
 *   the hidden layers still start random, so the output layer's gradient is not zero.
 */
export function createModel(options = {}) {
  const outputInitializer = options.outputStartsAtZero ? 'zeros' : 'glorotUniform';
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [featureCount], units: 32, activation: 'relu' }),
      tfl.layers.dense({ units: 16, activation: 'relu' }),
      tfl.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: outputInitializer }),
    ],
  });
}

// The records arrive msgpack-encoded by the role's codec (@millrace/bridge-shm's msgpackCodec).
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function decodeExample(record) {
  if (chaos !== undefined && ++chaos.decoded === chaos.after) killOnce();
  const { features, label } = packr.unpack(record);
  return { features, label };
}

// --chaos: worker[1]'s training process sends itself SIGKILL part-way through its share of the
// stream — a real kill -9 of a real trainer, landing mid-training however fast the machine is
// (a kill from outside, timed by progress reports, can arrive after a fast worker finished).
// A marker in the checkpoint directory makes it happen once: the restarted worker trains on.
const chaos = chaosTarget();

function chaosTarget() {
  const after = Number(process.env[chaosVariable] ?? 0);
  if (!(after > 0) || !process.env.TF_CONFIG || !process.env.MILLRACE_CHECKPOINT_DIR) return undefined;
  const task = JSON.parse(process.env.TF_CONFIG).task ?? {};
  if (task.type !== 'worker' || task.index !== 1) return undefined;
  const marker = join(process.env.MILLRACE_CHECKPOINT_DIR, 'flagship-chaos-done');
  return existsSync(marker) ? undefined : { after, decoded: 0, marker };
}

function killOnce() {
  writeFileSync(chaos.marker, String(process.pid));
  process.kill(process.pid, 'SIGKILL');
}
