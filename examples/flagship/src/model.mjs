/**
 * The training module every TF.js training process imports (workers and the parameter server
 * alike): the model, and how a pipeline record becomes an example.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { Packr } from 'msgpackr';
import { featureCount } from './features.mjs';

export function createModel() {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [featureCount], units: 32, activation: 'relu' }),
      tfl.layers.dense({ units: 16, activation: 'relu' }),
      tfl.layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
  });
}

// The records arrive msgpack-encoded by the role's codec (@millrace/bridge-shm's msgpackCodec).
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function decodeExample(record) {
  const { features, label } = packr.unpack(record);
  return { features, label };
}
