"""The Python end of bench/ring.mjs. Prints "ready" once it can receive, then one JSON line:
records received, seconds from the first record to the last, and this process's CPU seconds.

    python_bench.py ring-msgpack <ring path>          (a bare ring, msgpack.unpackb per record)
    python_bench.py unix-socket-msgpack <socket path> (length-prefixed, msgpack.unpackb per record)
    python_bench.py json-lines                        (records on stdin, json.loads per line)
    python_bench.py decode-msgpack <count>            (the same records, encoded here beforehand
                                                       and only decoded: no transport, the ceiling
                                                       of the Python side)

Timing starts at the first record, so the interpreter's start and imports are not counted.
"""

import json
import resource
import socket
import struct
import sys
import time
import os

READ_BATCH = int(os.environ.get("MILLRACE_BENCH_READ_BATCH", "4096"))


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


def ring_msgpack(path):
    import msgpack
    from millrace_shm import RingReader

    unpackb = msgpack.unpackb
    reader = RingReader.open(path)
    ready()
    count, started = 0, None
    while True:
        batch = reader.read_batch(READ_BATCH)  # a list of bytes objects
        if batch is None:
            break
        if started is None:
            started = time.perf_counter()
        for record in batch:
            unpackb(record, raw=False, strict_map_key=False)
        count += len(batch)
    reader.close()
    return count, started, 0


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


def unix_socket_msgpack(path):
    import msgpack

    unpackb = msgpack.unpackb
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
            unpackb(view[position + 4 : end], raw=False, strict_map_key=False)
            position = end
            count += 1
    connection.close()
    server.close()
    return count, started, 0


def decode_msgpack(count):
    import msgpack

    unpackb = msgpack.unpackb
    payload = "p" * 237  # the Node side's record(i): 256 bytes once encoded
    records = [msgpack.packb({"id": 1_000_000 + index, "payload": payload}) for index in range(int(count))]
    assert len(records[0]) == 256, len(records[0])
    ready()
    started = time.perf_counter()
    for record in records:
        unpackb(record, raw=False, strict_map_key=False)
    return len(records), started, 0


if __name__ == "__main__":
    mode = sys.argv[1]
    runners = {
        "ring-msgpack": ring_msgpack,
        "json-lines": json_lines,
        "unix-socket-msgpack": unix_socket_msgpack,
        "decode-msgpack": decode_msgpack,
    }
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
