import unittest

from millrace import InputStream, codec

from .helpers import ListSource

try:
    import numpy
except ImportError:  # pragma: no cover
    numpy = None

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def rows(count):
    decode, encode = codec("json")
    return InputStream(ListSource([encode([i, i * 2]) for i in range(count)], chunk=5), decode, "json")


@unittest.skipIf(numpy is None, "numpy is not installed")
class NumpyBatchesTest(unittest.TestCase):
    def test_batches_become_arrays_of_the_requested_shape(self):
        shapes = [batch.shape for batch in rows(10).numpy_batches(4, dtype="float32")]
        self.assertEqual(shapes, [(4, 2), (4, 2), (2, 2)])


@unittest.skipIf(torch is None or numpy is None, "torch is not installed")
class TorchDatasetTest(unittest.TestCase):
    def test_a_dataloader_sees_every_record_as_tensors(self):
        dataset = rows(10).torch_dataset(batch_size=5)
        loader = torch.utils.data.DataLoader(dataset, batch_size=None)
        batches = list(loader)
        self.assertEqual([tuple(b.shape) for b in batches], [(5, 2), (5, 2)])
        self.assertEqual(int(torch.cat(batches)[:, 0].sum()), sum(range(10)))

    def test_from_numpy_shares_memory_with_a_writeable_frame(self):
        decode = lambda data: numpy.frombuffer(bytearray(data), dtype=numpy.float32)  # noqa: E731
        frames = [numpy.arange(3, dtype=numpy.float32).tobytes()]
        stream = InputStream(ListSource(frames), decode, "tensor")
        (tensor,) = list(stream.torch_dataset())
        self.assertEqual(tensor.tolist(), [0.0, 1.0, 2.0])
