"""Millrace's ring: the DDP loop fed by the pipeline through millrace_torch's FrameDataset.

``BENCH_FRAMES=rows`` (the shipped example's way, examples/pytorch-stream-train): one tensor
frame per sample, stacked into batches by the dataset. ``BENCH_FRAMES=batches``: one frame holding
a whole batch, re-chunked by the dataset."""

import os

from ddp_loop import BATCH, train
from millrace_torch import frame_dataset


def main(ctx):
    frames = os.environ.get("BENCH_FRAMES", "rows")
    train(frame_dataset(ctx.input, BATCH, fields=("features", "label"), frames=frames), f"ring_{frames}")
    # The loop stops after its step budget; read on to the end-of-stream so the pipeline's side of
    # the ring sees a reader that finished, not one that walked away.
    while ctx.input.read_raw_batch(4096) is not None:
        pass
