export { type SlurmCluster, startSlurmCluster } from './slurm-cluster.js';
