"""Millrace's ring: the DDP loop fed by the pipeline. Each record is a tensor frame holding one
batch ({"features": [n, F], "label": [n]}); millrace_torch's FrameDataset re-chunks them."""

from ddp_loop import BATCH, train
from millrace_torch import frame_dataset


def main(ctx):
    train(frame_dataset(ctx.input, BATCH, fields=("features", "label"), frames="batches"), "ring")
