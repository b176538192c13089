// A job package: `millrace run <this directory>` finds this file through package.json "main".
import { defineJobModule } from '@millrace/dataflow';

export const job = defineJobModule(async ({ args, log }) => {
  log(`package job got ${args.length} argument(s)`);
});
