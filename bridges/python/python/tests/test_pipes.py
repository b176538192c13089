"""The pipe transport's Python side against a real pipe: frames split anywhere by the writer."""

import os
import struct
import threading
import unittest

from millrace._pipes import PipeSink, PipeSource


def frames(records):
    return b"".join(struct.pack("<I", len(record)) + record for record in records)


class PipeSourceTest(unittest.TestCase):
    def test_reads_every_record_whatever_the_chunks_then_none_at_the_end(self):
        records = [bytes([index % 251]) * (index * 37 % 3000) for index in range(500)] + [b"x" * (3 << 20)]
        data = frames(records)
        read_fd, write_fd = os.pipe()

        def write_in_odd_chunks():
            sizes, offset = [1, 3, 4, 5, 4093, 65536, 7], 0
            for step in range(10**9):
                if offset >= len(data):
                    break
                size = sizes[step % len(sizes)]
                os.write(write_fd, data[offset : offset + size])
                offset += size
            os.close(write_fd)

        writer = threading.Thread(target=write_in_odd_chunks)
        writer.start()
        source = PipeSource(read_fd)
        received = []
        while True:
            batch = source.read_batch(64, None)
            if batch is None:
                break
            self.assertLessEqual(len(batch), 64)
            received.extend(batch)
        writer.join()
        source.close()
        self.assertEqual(received, records)

    def test_a_pipe_that_ends_inside_a_frame_is_an_error_naming_the_bytes(self):
        read_fd, write_fd = os.pipe()
        os.write(write_fd, frames([b"whole"]) + struct.pack("<I", 10) + b"part")
        os.close(write_fd)
        source = PipeSource(read_fd)
        self.assertEqual(source.read_batch(10, None), [b"whole"])
        with self.assertRaisesRegex(EOFError, "ended inside a frame: 8 bytes"):
            source.read_batch(10, None)
        source.close()

    def test_a_read_with_a_timeout_returns_an_empty_batch_when_nothing_comes(self):
        read_fd, write_fd = os.pipe()
        source = PipeSource(read_fd)
        self.assertEqual(source.read_batch(10, 0.05), [])
        os.write(write_fd, frames([b"late"]))
        self.assertEqual(source.read_batch(10, 1.0), [b"late"])
        os.close(write_fd)
        self.assertIsNone(source.read_batch(10, 1.0))
        source.close()


class PipeSinkTest(unittest.TestCase):
    def test_writes_frames_a_source_reads_back_and_closing_ends_the_stream(self):
        read_fd, write_fd = os.pipe()
        sink, source = PipeSink(write_fd), PipeSource(read_fd)
        records = [b"", b"a", b"b" * 100_000]
        writer = threading.Thread(target=lambda: (sink.write_batch(records), sink.end()))
        writer.start()
        received = []
        while (batch := source.read_batch(10, None)) is not None:
            received.extend(batch)
        writer.join()
        source.close()
        self.assertEqual(received, records)
        with self.assertRaisesRegex(ValueError, "closed"):
            sink.write_batch([b"after the end"])


if __name__ == "__main__":
    unittest.main()
