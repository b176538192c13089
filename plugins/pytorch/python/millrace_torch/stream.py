"""Training batches from the pipeline: a torch ``IterableDataset`` over the node's input stream.

Records arrive as tensor frames (``{name: numpy array}``, decoded by millrace_shm as views of the
ring's memory). Two shapes of frame are supported:

- ``frames="rows"``: one frame per sample, e.g. ``{"features": [8], "label": []}``; the dataset
  stacks ``batch_size`` of them.
- ``frames="batches"``: the pipeline already batched, e.g. ``{"features": [n, 8], "label": [n]}``;
  the dataset re-chunks them into exactly ``batch_size`` rows (the fastest path: one ring record per
  batch, one copy when concatenating).

Each item is a tuple of tensors in ``fields`` order (the last batch of a stream may be shorter).
"""

import numpy as np
import torch

_FRAME_KINDS = ("rows", "batches")


def _check_frame(frame, fields):
    if not isinstance(frame, dict):
        raise TypeError(
            f"expected tensor frames ({{name: array}}), got {type(frame).__name__}: "
            "give the role the 'tensor' input codec"
        )
    missing = [name for name in fields if name not in frame]
    if missing:
        raise KeyError(f"tensor frame lacks {', '.join(missing)}; it has {', '.join(frame) or 'nothing'}")


def _owned_tensor(array):
    # Decoded frames are read-only views (numpy.frombuffer over the record's bytes); torch wants
    # writable memory, so only those are copied. np.stack / np.concatenate results are used as is.
    if array.flags.writeable and array.flags.c_contiguous:
        return torch.from_numpy(array)
    return torch.from_numpy(np.array(array, copy=True, order="C"))


def _rows_batches(stream, batch_size, fields):
    for records in stream.batches(batch_size):
        for record in records:
            _check_frame(record, fields)
        yield tuple(_owned_tensor(np.stack([record[name] for record in records])) for name in fields)


def _rechunked_batches(stream, batch_size, fields):
    pending = {name: [] for name in fields}
    held = 0
    for frame in stream:
        _check_frame(frame, fields)
        rows = len(frame[fields[0]])
        for name in fields:
            if len(frame[name]) != rows:
                raise ValueError(f"frame tensors disagree on rows: {fields[0]} has {rows}, {name} has {len(frame[name])}")
            pending[name].append(frame[name])
        held += rows
        while held >= batch_size:
            joined = {name: np.concatenate(pending[name]) for name in fields}
            yield tuple(_owned_tensor(joined[name][:batch_size]) for name in fields)
            pending = {name: [joined[name][batch_size:]] for name in fields}
            held -= batch_size
    if held:
        yield tuple(_owned_tensor(np.concatenate(pending[name])) for name in fields)


class FrameDataset(torch.utils.data.IterableDataset):
    """Batches of tensors from a Millrace input stream of tensor frames (single pass, one reader)."""

    def __init__(self, stream, batch_size, fields=("features", "label"), frames="rows"):
        super().__init__()
        if stream is None:
            raise ValueError("this node has no input stream: give the role an input (stream mode) to train from it")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if frames not in _FRAME_KINDS:
            raise ValueError(f"frames must be one of {', '.join(_FRAME_KINDS)}, got {frames!r}")
        if not fields:
            raise ValueError("fields must name at least one tensor of the frame")
        self.stream = stream
        self.batch_size = batch_size
        self.fields = tuple(fields)
        self.frames = frames

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        if info is not None and info.num_workers > 1:
            raise RuntimeError("a Millrace input stream has a single reader: use DataLoader(num_workers=0)")
        if self.frames == "rows":
            yield from _rows_batches(self.stream, self.batch_size, self.fields)
        else:
            yield from _rechunked_batches(self.stream, self.batch_size, self.fields)


def frame_dataset(stream, batch_size, fields=("features", "label"), frames="rows"):
    """A :class:`FrameDataset`; iterate it directly or wrap it in ``DataLoader(dataset, batch_size=None)``."""
    return FrameDataset(stream, batch_size, fields=fields, frames=frames)
