"""The Python end of the production path in bench/ring.mjs: a pythonRunner entry that reads its
input through ``ctx.input`` (decoded with the role's codec: msgpack dicts, or tensor frames as
numpy views) and writes one JSON report to ``MILLRACE_BENCH_REPORT``: records, seconds from the
first record to the last, bytes of tensor data seen, and this process's CPU seconds from its
first record on."""

import json
import os
import resource
import time


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def consume(ctx):
    count, total_bytes, started, cpu_started = 0, 0, None, None
    while True:
        batch = ctx.input.read_batch(4096)  # decoded records
        if batch is None:
            break
        if started is None:
            started, cpu_started = time.perf_counter(), _cpu_seconds()
        count += len(batch)
        if ctx.input.codec == "tensor":
            for frame in batch:
                for array in frame.values():
                    total_bytes += array.nbytes
    finished = time.perf_counter()
    report = {
        "records": count,
        "seconds": finished - (started or finished),
        "bytes": total_bytes,
        "cpuSeconds": _cpu_seconds() - (cpu_started or 0.0),
    }
    with open(os.environ["MILLRACE_BENCH_REPORT"], "w") as handle:
        json.dump(report, handle)
