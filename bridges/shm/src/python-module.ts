import { join } from 'node:path';
import { packageRoot } from './native-binding.js';

/**
 * The directory to put on PYTHONPATH so a Python process can `import millrace_shm` (the ring's
 * Python side, shipped in this package).
 */
export const pythonModuleDirectory = join(packageRoot, 'python');
