import json
import unittest

from millrace import InputStream, OutputStream, codec

from .helpers import ListSink, ListSource


def json_input(values, chunk=3):
    decode, _ = codec("json")
    return InputStream(ListSource([json.dumps(v).encode() for v in values], chunk), decode, "json")


class InputStreamTest(unittest.TestCase):
    def test_iterates_every_record_in_order_then_ends(self):
        stream = json_input(list(range(10)))
        self.assertEqual(list(stream), list(range(10)))
        self.assertTrue(stream.ended)
        self.assertIsNone(stream.read_batch())

    def test_position_counts_records_as_they_are_handed_out(self):
        stream = json_input(list(range(10)), chunk=100)
        stream.position = 5  # resuming after record 5
        iterator = iter(stream)
        self.assertEqual([next(iterator), next(iterator)], [0, 1])
        self.assertEqual(stream.position, 7)  # not the 15 of the whole batch the transport gave
        batched = json_input(list(range(10)), chunk=100)
        self.assertEqual(batched.read_batch(4), [0, 1, 2, 3])
        self.assertEqual(batched.position, 4)
        self.assertEqual([len(batch) for batch in batched.batches(4)], [4, 2])
        self.assertEqual(batched.position, 10)

    def test_read_batch_returns_at_most_the_requested_count(self):
        stream = json_input(list(range(10)), chunk=100)
        self.assertEqual(stream.read_batch(4), [0, 1, 2, 3])
        self.assertEqual(stream.read_batch(100), [4, 5, 6, 7, 8, 9])
        self.assertIsNone(stream.read_batch(100))

    def test_batches_are_full_except_the_last(self):
        stream = json_input(list(range(11)), chunk=3)
        self.assertEqual([len(b) for b in stream.batches(4)], [4, 4, 3])

    def test_rejects_a_non_positive_batch_size(self):
        with self.assertRaisesRegex(ValueError, "batch_size must be a positive integer"):
            next(json_input([1]).batches(0))

    def test_timeout_returns_an_empty_batch_when_nothing_arrives(self):
        class Silent:
            def read_batch(self, max_records, timeout):
                return []

        stream = InputStream(Silent(), lambda b: b, "raw")
        self.assertEqual(stream.read_batch(10, timeout=0.05), [])
        self.assertFalse(stream.ended)


class OutputStreamTest(unittest.TestCase):
    def test_buffers_writes_and_flushes_on_close_with_end_of_stream(self):
        sink = ListSink()
        _, encode = codec("json")
        stream = OutputStream(sink, encode, "json", flush_every=4)
        for value in range(6):
            stream.write({"n": value})
        self.assertEqual(len(sink.records), 4)
        stream.close()
        self.assertEqual([json.loads(r) for r in sink.records], [{"n": v} for v in range(6)])
        self.assertTrue(sink.ended)

    def test_write_after_close_is_an_error(self):
        stream = OutputStream(ListSink(), codec("raw")[1], "raw")
        stream.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            stream.write(b"x")

    def test_raw_codec_refuses_non_bytes_with_a_hint(self):
        stream = OutputStream(ListSink(), codec("raw")[1], "raw")
        with self.assertRaisesRegex(TypeError, "json or msgpack"):
            stream.write({"a": 1})


class CodecTest(unittest.TestCase):
    def test_unknown_codec_names_the_known_ones(self):
        with self.assertRaisesRegex(ValueError, "known codecs: raw, json, msgpack"):
            codec("yaml")

    def test_json_round_trip(self):
        decode, encode = codec("json")
        self.assertEqual(decode(memoryview(encode([1, "a", None]))), [1, "a", None])

    def test_msgpack_round_trip_when_available(self):
        try:
            import msgpack  # noqa: F401
        except ImportError:
            self.skipTest("msgpack is not installed")
        decode, encode = codec("msgpack")
        self.assertEqual(decode(encode({"x": [1.5, 2], "b": b"\x00"})), {"x": [1.5, 2], "b": b"\x00"})


class LatencyTest(unittest.TestCase):
    def test_pending_output_is_flushed_before_the_input_waits(self):
        class SlowSource:
            def __init__(self):
                self.calls = 0

            def read_batch(self, max_records, timeout):
                self.calls += 1
                return [b"1"] if self.calls == 1 else None if self.calls > 3 else []

        sink = ListSink()
        output = OutputStream(sink, codec("raw")[1], "raw", flush_every=1000, flush_after=60)
        stream = InputStream(SlowSource(), lambda b: b, "raw")
        stream.before_wait = output.flush
        self.assertEqual(stream.read_batch(), [b"1"])
        output.write(b"result")
        self.assertEqual(sink.records, [])
        self.assertIsNone(stream.read_batch())
        self.assertEqual(sink.records, [b"result"])

    def test_an_old_pending_record_is_flushed_by_the_next_write(self):
        sink = ListSink()
        output = OutputStream(sink, codec("raw")[1], "raw", flush_every=1000, flush_after=0.0)
        output.write(b"a")
        self.assertEqual(sink.records, [b"a"])
