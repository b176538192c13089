"""Millrace's ring: the DDP loop fed by the pipeline. Each record is a tensor frame holding one
batch ({"features": [n, F], "label": [n]}); millrace_torch's FrameDataset re-chunks them."""

from ddp_loop import BATCH, train
from millrace_torch import frame_dataset


def main(ctx):
    train(frame_dataset(ctx.input, BATCH, fields=("features", "label"), frames="batches"), "ring")
    # The loop stops after its step budget; read on to the end-of-stream so the pipeline's side of
    # the ring sees a reader that finished, not one that walked away.
    for _ in ctx.input:
        pass
