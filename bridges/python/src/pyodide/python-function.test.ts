import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DependencyMissingError } from '@millrace/core';
import { Job } from '@millrace/dataflow';
import { afterAll, describe, expect, it } from 'vitest';
import { closePyodideWorkers } from './pyodide-pool.js';
import { python, pythonFile } from './python-function.js';
import { pythonOperator } from './python-operator.js';

const directory = mkdtempSync(join(tmpdir(), 'millrace-pyodide-'));
afterAll(async () => {
  await closePyodideWorkers();
  rmSync(directory, { recursive: true, force: true });
});

// One worker for the whole file: every test after the first finds Pyodide already loaded.
const shared = { maxWorkers: 1 };

describe('python() in a pipeline (Pyodide on a worker thread)', () => {
  it('runs a UDF over every record, batches crossing as plain values', async () => {
    const job = new Job({ batchSize: 64 });
    const out = job
      .fromIterable(Array.from({ length: 500 }, (_, index) => ({ sku: `item-${index}`, price: index / 4 })))
      .mapBatches(
        python<{ sku: string; price: number }, { sku: string; total: number; tags: string[] }>(
          [
            'def price_with_tax(row):',
            '    return {"sku": row["sku"].upper(), "total": round(row["price"] * 1.2, 2), "tags": ("taxed",)}',
          ].join('\n'),
          shared,
        ),
      )
      .collect();
    await job.execute();
    expect(out.records).toHaveLength(500);
    expect(out.records[0]).toEqual({ sku: 'ITEM-0', total: 0, tags: ['taxed'] });
    expect(out.records[499]).toEqual({ sku: 'ITEM-499', total: 149.7, tags: ['taxed'] });
  });

  it('as a transform operator it defines the function in open: a bad import fails the job there', async () => {
    const job = new Job({ batchSize: 8 });
    job
      .generate((index) => index, { count: 100 })
      .transform(pythonOperator(python('import pandas\ndef f(row):\n    return row\n', shared)))
      .collect();
    await expect(job.execute()).rejects.toThrow(/imports pandas, which Pyodide cannot load here/);

    const ok = new Job({ batchSize: 8 });
    const out = ok
      .fromIterable(['a', 'b'])
      .transform(pythonOperator(python<string, string>('def f(s):\n    return s * 2\n', shared)))
      .collect();
    await ok.execute();
    expect(out.records).toEqual(['aa', 'bb']);
  });

  it('keeps one interpreter per worker: module state survives from batch to batch', async () => {
    const counter = python<number, number>(
      'seen = 0\ndef count(rows):\n    global seen\n    seen += len(rows)\n    return [seen] * len(rows)\n',
      { ...shared, mode: 'batch' },
    );
    expect(await counter([1, 2, 3])).toEqual([3, 3, 3]);
    expect(await counter([4, 5])).toEqual([5, 5]);
  });

  it('a UDF that raises fails the job with the Python traceback', async () => {
    const job = new Job({ batchSize: 16 });
    job
      .fromIterable([4, 2, 0, 1])
      .mapBatches(python('def invert(value):\n    return 1 / value\n', { ...shared, filename: 'invert.py' }))
      .collect();
    const error = (await job.execute().then(
      () => new Error('the job did not fail'),
      (caught: unknown) => caught,
    )) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toContain('ZeroDivisionError: division by zero');
    expect(error.message).toContain('Traceback (most recent call last)');
    expect(error.message).toContain('File "invert.py", line 2, in invert');
  });

  it('a UDF that imports numpy fails before its first record, saying Pyodide cannot load it offline', async () => {
    const udf = python('import numpy as np\ndef norm(row):\n    return float(np.linalg.norm(row))\n', shared);
    const error = (await udf.warmUp().then(
      () => new Error('warmUp did not fail'),
      (caught: unknown) => caught,
    )) as Error;
    expect(DependencyMissingError.isInstance(error)).toBe(true);
    expect(error.message).toContain('imports numpy, which Pyodide cannot load here');
    expect(error.message).toContain(
      'only the Python standard library is available (packages loaded into Pyodide: none)',
    );
    expect(error.message).toContain('numpy is a Pyodide package');
    expect(error.message).toContain('pythonRunner');

    const job = new Job();
    job
      .fromIterable([[3, 4]])
      .mapBatches(udf)
      .collect();
    await expect(job.execute()).rejects.toThrow(/imports numpy/);
  });

  it('the standard library works; the host file system, environment and JavaScript globals do not', async () => {
    const probe = python<string, string>(
      [
        'import json, os',
        'def probe(what):',
        '    try:',
        '        if what == "file":',
        '            return open("/etc/hostname").read()',
        '        if what == "env":',
        '            return ",".join(sorted(k for k in os.environ if k not in ("HOME", "PATH", "PWD", "USER", "LOGNAME", "LANG", "_", "PYTHONINSPECT", "LD_LIBRARY_PATH")))',
        '        if what == "js":',
        '            return str(__import__("js").process)',
        '        if what == "function-constructor":',
        '            from pyodide.ffi import to_js',
        '            return str(to_js([]).constructor.constructor("return typeof process")())',
        '        if what == "pyodide_js":',
        '            return str(__import__("pyodide_js").FS)',
        '        return json.dumps({"ok": what})',
        '    except Exception as error:',
        '        return type(error).__name__',
      ].join('\n'),
      shared,
    );
    expect(await probe(['stdlib', 'file', 'env', 'js', 'function-constructor', 'pyodide_js'])).toEqual([
      '{"ok": "stdlib"}',
      'FileNotFoundError',
      '',
      'AttributeError',
      'TypeError',
      'ModuleNotFoundError',
    ]);
  });

  it('a function that never returns times out, and the pool replaces its worker', async () => {
    const spin = python<number, number>('def spin(n):\n    while n >= 0:\n        pass\n    return n\n', {
      maxWorkers: 1,
      grantDirectory: directory,
      timeoutMs: 500,
    });
    await expect(spin([1])).rejects.toThrow(/Timed out after 500 ms waiting for the Python function/);
    expect(await spin([-1])).toEqual([-1]);
  });

  it('a granted directory is visible at its mount point', async () => {
    writeFileSync(join(directory, 'lookup.json'), '{"a": 1, "b": 2}');
    const lookup = python<string, number>(
      'import json\nTABLE = json.load(open("/data/lookup.json"))\ndef lookup(key):\n    return TABLE[key]\n',
      { grantDirectory: directory, maxWorkers: 1 },
    );
    expect(await lookup(['b', 'a'])).toEqual([2, 1]);
  });

  it('pythonFile loads a named function from a file; ambiguous or bad source is a clear error', async () => {
    const file = join(directory, 'udfs.py');
    writeFileSync(file, 'def shout(s):\n    return s.upper()\n\ndef whisper(s):\n    return s.lower()\n');
    expect(await pythonFile<string, string>(file, { ...shared, function: 'whisper' })(['HeLLo'])).toEqual([
      'hello',
    ]);
    await expect(pythonFile(file, shared).warmUp()).rejects.toThrow(
      /defines 2 top-level functions \(shout, whisper\); name one with the 'function' option/,
    );
    await expect(python('def broken(:\n', shared).warmUp()).rejects.toThrow(ConfigError);
    expect(() => python('', shared)).toThrow(/must be Python source code/);
    expect(() => python('def f(x): return x', { grantDirectory: join(directory, 'absent') })).toThrow(
      /is not an existing directory/,
    );
  });
});
