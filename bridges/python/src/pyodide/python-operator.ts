/**
 * `pythonOperator(fn)`: a Pyodide function as a dataflow operator with a lifecycle, for
 * `stream.transform(...)`. Unlike `mapBatches(python(...))`, it loads Pyodide and defines the
 * function in `open`, so a bad import or a syntax error fails the job before any record flows,
 * and it counts the records it ran (`python-records` in the operator's metrics).
 */
import type { OperatorFactory, Output } from '@millrace/dataflow';
import type { PythonBatchFunction } from './python-function.js';

export function pythonOperator<I, O>(fn: PythonBatchFunction<I, O>): OperatorFactory<I, O> {
  return () => {
    let output: Output<O>;
    let count: (metric: string, delta?: number) => void = () => {};
    return {
      async open(context) {
        output = context.output;
        count = (metric, delta) => context.count(metric, delta);
        await fn.warmUp();
      },
      async processBatch(batch) {
        output.emitAll(await fn(batch));
        count('python-records', batch.length);
      },
    };
  };
}
