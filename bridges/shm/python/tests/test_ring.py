"""The ring's Python side against itself: threads, a killed child process, codecs, zero copy."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from millrace_shm import (
    ChannelClosedError,
    CodecError,
    JsonCodec,
    PeerDiedError,
    RecordTooLargeError,
    RingReader,
    RingTimeoutError,
    RingWriter,
    codec_by_name,
    create_ring,
    decode_tensor_frame,
    encode_tensor_frame,
)

try:
    import numpy
except ImportError:
    numpy = None

try:
    import msgpack
except ImportError:
    msgpack = None

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(index):
    return bytes([index & 255]) * (1 + (index * 7919) % 1000)


class RingTestCase(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="millrace-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self.addCleanup(shutil.rmtree, self.directory, True)

    def ring(self, capacity=4096, codec="raw"):
        return create_ring(os.path.join(self.directory, "ring.shm"), capacity, codec)


class RoundTripTest(RingTestCase):
    def test_records_cross_wrap_arounds_in_order_and_intact(self):
        path = self.ring(4096)
        writer, reader = RingWriter.open(path), RingReader.open(path)
        count = 5000

        def produce():
            for start in range(0, count, 50):
                writer.write_batch([record(i) for i in range(start, start + 50)])
            writer.end()

        thread = threading.Thread(target=produce)
        thread.start()
        received = list(reader)
        thread.join()
        self.assertEqual(len(received), count)
        for index, value in enumerate(received):
            self.assertEqual(value, record(index), f"record {index}")
        self.assertIsNone(reader.read())
        writer.close()
        reader.close()
        self.assertFalse(os.path.exists(path), "the ring file is removed once both sides closed")

    def test_read_batch_returns_lists_then_none_at_end(self):
        path = self.ring()
        with RingWriter.open(path) as writer, RingReader.open(path) as reader:
            writer.write_batch([b"a", b"bb", b"ccc"])
            writer.end()
            self.assertEqual(reader.read_batch(2), [b"a", b"bb"])
            self.assertEqual(reader.read_batch(10), [b"ccc"])
            self.assertIsNone(reader.read_batch(10))

    def test_a_record_larger_than_the_ring_is_rejected_naming_both_sizes(self):
        path = self.ring(4096)
        with RingWriter.open(path) as writer:
            with self.assertRaises(RecordTooLargeError) as caught:
                writer.write(b"x" * 5000)
            self.assertIn("5000", str(caught.exception))
            self.assertIn("4088", str(caught.exception))
            writer.write(b"y" * 4088)  # the largest record fits

    def test_codec_mismatch_is_refused_at_open(self):
        path = self.ring(codec="msgpack")
        with self.assertRaisesRegex(ValueError, 'speaks codec "json".*"msgpack"'):
            RingReader.open(path, codec=JsonCodec())

    def test_reader_waiting_for_an_absent_writer_times_out(self):
        path = self.ring()
        with RingReader.open(path, attach_timeout=0.2) as reader:
            started = time.monotonic()
            with self.assertRaisesRegex(RingTimeoutError, "no writer attached"):
                reader.read()
            self.assertLess(time.monotonic() - started, 5)


class IdleTest(RingTestCase):
    def test_an_idle_reader_sleeps_instead_of_spinning_and_honours_its_timeout(self):
        path = self.ring()
        with RingWriter.open(path), RingReader.open(path, timeout=1.0) as reader:
            cpu_before = time.process_time()
            with self.assertRaisesRegex(RingTimeoutError, "timed out waiting for data"):
                reader.read()
            # A spinning wait would burn about a second of CPU here.
            self.assertLess(time.process_time() - cpu_before, 0.3)


class ClosingTest(RingTestCase):
    def test_writer_closing_without_end_is_an_error_for_the_reader(self):
        path = self.ring()
        writer, reader = RingWriter.open(path), RingReader.open(path)
        writer.write(b"last")
        writer.close()
        self.assertEqual(reader.read(), b"last")
        with self.assertRaises(ChannelClosedError) as caught:
            reader.read()
        self.assertEqual(caught.exception.by, "peer")
        reader.close()
        self.assertFalse(os.path.exists(path))

    def test_reader_closing_wakes_a_writer_blocked_on_a_full_ring(self):
        path = self.ring(4096)
        writer, reader = RingWriter.open(path), RingReader.open(path)
        errors = []

        def produce():
            try:
                for _ in range(100):
                    writer.write(b"z" * 1000)
            except ChannelClosedError as error:
                errors.append(error)

        thread = threading.Thread(target=produce)
        thread.start()
        time.sleep(0.2)
        reader.close()
        thread.join(5)
        self.assertFalse(thread.is_alive(), "the writer is not stuck")
        self.assertEqual(len(errors), 1)
        writer.close()
        self.assertFalse(os.path.exists(path))


class PeerDeathTest(RingTestCase):
    def test_reader_notices_a_writer_killed_mid_stream(self):
        path = self.ring(4096)
        script = (
            "import os, signal, sys\n"
            "from millrace_shm import RingWriter\n"
            "w = RingWriter.open(sys.argv[1])\n"
            "for i in range(10): w.write(b'r' * 100)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", script, path], env={**os.environ, "PYTHONPATH": PYTHON_ROOT}
        )
        reader = RingReader.open(path)
        received = 0
        started = None
        with self.assertRaises(PeerDiedError) as caught:
            for _ in reader:
                received += 1
                if received == 10:
                    child.wait(10)
                    started = time.monotonic()
        self.assertEqual(received, 10)
        self.assertEqual(child.returncode, -signal.SIGKILL)
        self.assertEqual(caught.exception.pid, child.pid)
        self.assertLess(time.monotonic() - started, 5)
        self.assertFalse(os.path.exists(path), "the survivor removed the ring file")
        reader.close()


class CodecTest(unittest.TestCase):
    def test_json_round_trip_and_corrupt_input(self):
        codec = JsonCodec()
        self.assertEqual(codec.decode(codec.encode({"a": [1, 2]})), {"a": [1, 2]})
        with self.assertRaises(CodecError):
            codec.decode(b"\xff{")

    @unittest.skipIf(msgpack is None, "python3-msgpack is not installed for this interpreter")
    def test_msgpack_round_trip_and_corrupt_input(self):
        codec = codec_by_name("msgpack")
        value = {"id": 7, "name": "x", "data": b"\x00\x01", "floats": [1.5, -2.0]}
        self.assertEqual(codec.decode(codec.encode(value)), value)
        with self.assertRaisesRegex(CodecError, "msgpack codec"):
            codec.decode(codec.encode(value)[:-3])

    @unittest.skipIf(numpy is None, "numpy is not installed for this interpreter")
    def test_tensor_frames_round_trip_every_dtype(self):
        tensors = {
            name: numpy.arange(12, dtype=name).reshape(3, 4)
            for name in ["float32", "float64", "int32", "int64", "uint8", "int8", "int16", "uint16", "uint32"]
        }
        decoded = decode_tensor_frame(encode_tensor_frame(tensors))
        self.assertEqual(list(decoded), list(tensors))
        for name, array in tensors.items():
            self.assertEqual(decoded[name].dtype, array.dtype)
            numpy.testing.assert_array_equal(decoded[name], array)

    @unittest.skipIf(numpy is None, "numpy is not installed for this interpreter")
    def test_corrupt_or_foreign_tensor_frames_are_named(self):
        frame = encode_tensor_frame({"x": numpy.ones((2, 2), dtype="float32")})
        with self.assertRaisesRegex(CodecError, "magic MTF1"):
            decode_tensor_frame(JsonCodec().encode({"not": "a tensor frame"}))
        with self.assertRaisesRegex(CodecError, "truncated"):
            decode_tensor_frame(frame[:-8])
        broken = bytearray(frame)
        broken[8] = 42
        with self.assertRaisesRegex(CodecError, "unknown dtype code 42"):
            decode_tensor_frame(bytes(broken))


@unittest.skipIf(numpy is None, "numpy is not installed for this interpreter")
class ZeroCopyTest(RingTestCase):
    def test_tensor_frames_are_viewed_in_the_ring_memory(self):
        path = self.ring(1 << 16, codec="tensor")
        with RingWriter.open(path, codec="tensor") as writer, RingReader.open(path, codec="tensor") as reader:
            features = numpy.random.default_rng(1).random((32, 8))
            labels = numpy.arange(32, dtype="int64")
            writer.write(encode_tensor_frame({"features": features, "labels": labels}))
            writer.end()
            frame = reader.read_tensor_frame()
            numpy.testing.assert_array_equal(frame["features"], features)
            numpy.testing.assert_array_equal(frame["labels"], labels)
            self.assertFalse(frame["features"].flags.owndata, "a view, not a copy")
            self.assertEqual(frame["features"].ctypes.data % 8, 0, "tensor data is 8-byte aligned")
            del frame
            self.assertIsNone(reader.read_tensor_frame())


if __name__ == "__main__":
    unittest.main()
