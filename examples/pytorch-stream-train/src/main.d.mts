import type { JobModule } from '@millrace/dataflow';

export declare const job: JobModule;
