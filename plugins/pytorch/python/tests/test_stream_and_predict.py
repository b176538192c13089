import os
import sys
import tempfile
import textwrap
import unittest

from tests.support import HAVE_TORCH, requires_torch

if HAVE_TORCH:
    import numpy as np
    import torch

    from millrace_torch import frame_dataset
    from millrace_torch.predict import predict_records, serve


class FakeInput:
    """The part of millrace.InputStream the dataset and the prediction loop use."""

    def __init__(self, records, chunk=3):
        self.records = list(records)
        self.chunk = chunk

    def read_batch(self, max_records=1024, timeout=None):
        if not self.records:
            return None
        taken = self.records[: min(max_records, self.chunk)]
        del self.records[: len(taken)]
        return taken

    def batches(self, batch_size):
        pending = []
        while True:
            batch = self.read_batch(batch_size - len(pending))
            if batch is None:
                break
            pending.extend(batch)
            if len(pending) == batch_size:
                yield pending
                pending = []
        if pending:
            yield pending

    def __iter__(self):
        while True:
            batch = self.read_batch()
            if batch is None:
                return
            yield from batch


class FakeOutput:
    def __init__(self):
        self.records = []

    def write_batch(self, records):
        self.records.extend(records)


class FakeContext:
    def __init__(self, records):
        self.input = FakeInput(records)
        self.output = FakeOutput()
        self.metrics = {}
        self.checkpoint_dir = tempfile.gettempdir()

    def report(self, **metrics):
        self.metrics.update(metrics)


def readonly(array):
    # Frames decoded from the ring are read-only views, like numpy.frombuffer over bytes.
    view = np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)
    return view


@requires_torch
class FrameDatasetTest(unittest.TestCase):
    def test_stacks_row_frames_into_batches_of_exactly_batch_size(self):
        rows = [{"features": readonly(np.full(4, i, np.float32)), "label": readonly(np.array(i % 2, np.float32))} for i in range(10)]
        batches = list(frame_dataset(FakeInput(rows), 4))
        self.assertEqual([features.shape[0] for features, _ in batches], [4, 4, 2])
        self.assertEqual(batches[2][0][:, 0].tolist(), [8.0, 9.0])
        self.assertEqual(batches[0][1].tolist(), [0.0, 1.0, 0.0, 1.0])
        batches[0][0].add_(1)  # batches own writable memory

    def test_rechunks_batched_frames_across_frame_boundaries(self):
        frames = [
            {"features": readonly(np.arange(n * 2, dtype=np.float32).reshape(n, 2) + start), "label": readonly(np.zeros(n, np.float32))}
            for start, n in ((0, 5), (100, 3), (200, 6))
        ]
        batches = list(frame_dataset(FakeInput(frames), 4, frames="batches"))
        self.assertEqual([features.shape[0] for features, _ in batches], [4, 4, 4, 2])
        self.assertEqual(batches[1][0][:, 0].tolist(), [8.0, 100.0, 102.0, 104.0])

    def test_names_a_missing_tensor(self):
        with self.assertRaisesRegex(KeyError, "lacks label; it has features"):
            list(frame_dataset(FakeInput([{"features": np.zeros(2, np.float32)}]), 2))

    def test_refuses_a_node_without_input(self):
        with self.assertRaisesRegex(ValueError, "no input stream"):
            frame_dataset(None, 2)


@requires_torch
class PredictTest(unittest.TestCase):
    def test_one_output_per_input_in_order_with_the_other_tensors_passed_through(self):
        model = torch.nn.Linear(3, 1)
        frames = [{"id": np.array(i, np.int32), "features": readonly(np.full(3, i / 10, np.float32))} for i in range(7)]
        records = predict_records(model, frames)
        self.assertEqual([record["id"] for record in records], list(range(7)))
        with torch.no_grad():
            expected = model(torch.tensor([[i / 10] * 3 for i in range(7)])).squeeze(1).tolist()
        for record, value in zip(records, expected):
            self.assertAlmostEqual(record["prediction"][0], value, places=5)

    def test_serve_reads_to_the_end_and_loads_the_model_through_the_factory(self):
        directory = tempfile.mkdtemp(prefix="millrace-predict-test-")
        factory = os.path.join(directory, "doubling.py")
        with open(factory, "w") as handle:
            handle.write(textwrap.dedent("""
                def load(ctx):
                    return lambda batch: batch.sum(dim=1) * 2
            """))
        os.environ["MILLRACE_TORCH_MODEL"] = f"{factory}:load"
        os.environ["MILLRACE_TORCH_BATCH"] = "4"
        try:
            context = FakeContext([{"key": np.array(i, np.int32), "features": np.full(2, i, np.float32)} for i in range(10)])
            serve(context)
        finally:
            del os.environ["MILLRACE_TORCH_MODEL"], os.environ["MILLRACE_TORCH_BATCH"]
            sys.modules.pop("doubling", None)
            os.unlink(factory)
            os.rmdir(directory)
        self.assertEqual([(r["key"], r["prediction"]) for r in context.output.records], [(i, [4.0 * i]) for i in range(10)])
        self.assertEqual(context.metrics, {"predicted": 10})


if __name__ == "__main__":
    unittest.main()
