"""The Python end of bench/ring.mjs. Prints "ready" once it can receive, then one JSON line:
records received, seconds from the first record to the last, and this process's CPU seconds.

    python_bench.py ring-records <ring path>
    python_bench.py ring-tensors <ring path>
    python_bench.py json-lines                  (records on stdin)
    python_bench.py unix-socket <socket path>
"""

import json
import resource
import socket
import struct
import sys
import time
import os

READ_BATCH = int(os.environ.get("MILLRACE_BENCH_READ_BATCH", "1024"))


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def context_switches():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


_baseline = {}


def ready():
    """Imports and setup are done: CPU and context switches count from here."""
    _baseline["cpu"], _baseline["switches"] = cpu_seconds(), context_switches()
    print("ready", flush=True)


def ring_records(path):
    from millrace_shm import RingReader

    reader = RingReader.open(path)
    ready()
    count, started = 0, None
    while True:
        batch = reader.read_batch(READ_BATCH)  # a list of bytes objects
        if batch is None:
            break
        if started is None:
            started = time.perf_counter()
        count += len(batch)
    reader.close()
    return count, started, 0


def ring_tensors(path):
    from millrace_shm import RingReader

    reader = RingReader.open(path)
    ready()
    count, started, total_bytes = 0, None, 0
    while True:
        frame = reader.read_tensor_frame()  # numpy.frombuffer views over the ring memory
        if frame is None:
            break
        if started is None:
            started = time.perf_counter()
        for array in frame.values():
            total_bytes += array.nbytes
        count += 1
    reader.close()
    return count, started, total_bytes


def json_lines():
    ready()
    count, started = 0, None
    loads = json.loads
    for line in sys.stdin.buffer:
        if started is None:
            started = time.perf_counter()
        loads(line)
        count += 1
    return count, started, 0


def unix_socket(path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    ready()
    connection, _ = server.accept()
    # A careful length-prefixed reader: big recv()s into a buffer, records sliced out of it.
    buffer = bytearray(4 << 20)
    view = memoryview(buffer)
    unpack_from = struct.unpack_from
    filled, position, count, started = 0, 0, 0, None
    while True:
        if position > len(buffer) // 2:
            view[0 : filled - position] = view[position:filled]
            filled -= position
            position = 0
        received = connection.recv_into(view[filled:])
        if received == 0:
            break
        if started is None:
            started = time.perf_counter()
        filled += received
        while filled - position >= 4:
            (length,) = unpack_from("<I", buffer, position)
            end = position + 4 + length
            if end > filled:
                break
            bytes(view[position + 4 : end])
            position = end
            count += 1
    connection.close()
    server.close()
    return count, started, 0


if __name__ == "__main__":
    mode = sys.argv[1]
    runners = {"ring-records": ring_records, "ring-tensors": ring_tensors, "json-lines": json_lines, "unix-socket": unix_socket}
    count, started, total_bytes = runners[mode](*sys.argv[2:])
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "records": count,
                "seconds": finished - (started or finished),
                "bytes": total_bytes,
                "cpuSeconds": cpu_seconds() - _baseline["cpu"],
                "contextSwitches": context_switches() - _baseline["switches"],
            }
        ),
        flush=True,
    )
