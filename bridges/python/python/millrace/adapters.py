"""Adapters from an :class:`~millrace.InputStream` to numpy and torch.

They import their library only when called, so the basics of :mod:`millrace` need nothing beyond
the standard library. A missing library raises ``ImportError`` that says how to install it.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator, Optional


def _require(module: str, debian_package: str) -> Any:
    try:
        return __import__(module)
    except ImportError as error:
        raise ImportError(
            f"this adapter needs the Python module {module!r}, which this interpreter "
            f"cannot import: apt-get install {debian_package} (Debian/Ubuntu) or python3 -m pip install {module}"
        ) from error


def _as_array(numpy: Any, batch: list, dtype: Any) -> Any:
    """A batch as one array; a batch of tensor frames (dicts of arrays) as a dict of arrays.

    Decoded tensor frames are numpy views already: stacking them is the only copy.
    """
    if batch and isinstance(batch[0], dict):
        return {name: _as_array(numpy, [record[name] for record in batch], dtype) for name in batch[0]}
    if batch and isinstance(batch[0], numpy.ndarray):
        stacked = numpy.stack(batch)
        return stacked if dtype is None else stacked.astype(dtype, copy=False)
    return numpy.asarray(batch, dtype=dtype)


def numpy_batches(stream: Any, batch_size: int, dtype: Any = None) -> Iterator[Any]:
    """Yields ``numpy.ndarray`` batches of ``batch_size`` records (the last may be shorter)."""
    numpy = _require("numpy", "python3-numpy")
    for batch in stream.batches(batch_size):
        yield _as_array(numpy, batch, dtype)


def torch_dataset(stream: Any, batch_size: Optional[int] = None, dtype: Any = None) -> Any:
    """A ``torch.utils.data.IterableDataset`` over ``stream``.

    With ``batch_size``, each item is a tensor of that many records (use
    ``DataLoader(dataset, batch_size=None)``); without it, each item is one record as a tensor.
    The stream is single-consumer: use ``num_workers=0``. Tensor frames become tensors through
    ``torch.from_numpy``, which shares the frame's memory instead of copying it.
    """
    torch = _require("torch", "python3-torch")
    numpy = _require("numpy", "python3-numpy")

    def to_tensor(value: Any) -> Any:
        if isinstance(value, dict):
            return {name: to_tensor(item) for name, item in value.items()}
        array = value if isinstance(value, numpy.ndarray) else numpy.asarray(value)
        with warnings.catch_warnings():
            # A frame decoded from the ring views a bytes object that only this record references,
            # so sharing it is safe; torch would otherwise warn that the buffer is read-only.
            warnings.simplefilter("ignore", UserWarning)
            tensor = torch.from_numpy(array)
        return tensor if dtype is None else tensor.to(dtype)

    class InputDataset(torch.utils.data.IterableDataset):  # type: ignore[misc, name-defined]
        """Records from the Millrace pipeline as tensors."""

        def __iter__(self) -> Iterator[Any]:
            info = torch.utils.data.get_worker_info()
            if info is not None and info.num_workers > 1:
                raise RuntimeError("the Millrace input stream has a single reader: use DataLoader(num_workers=0)")
            if batch_size is None:
                for record in stream:
                    yield to_tensor(record)
            else:
                for batch in stream.batches(batch_size):
                    yield to_tensor(_as_array(numpy, batch, None))

    return InputDataset()
