"""Ceiling: the DDP loop over batches already in memory (pre-made tensors, sliced per step).

No reading, decoding or collating at all: what the loop does when data costs nothing.
"""

import os

import torch

from ddp_loop import BATCH, FEATURES, STEPS, train

rank = int(os.environ["RANK"])
generator = torch.Generator().manual_seed(rank)
features = torch.randn(STEPS * BATCH, FEATURES, generator=generator)
labels = (features[:, 0] > 0).float()
batches = [(features[i : i + BATCH], labels[i : i + BATCH]) for i in range(0, STEPS * BATCH, BATCH)]
train(batches, "ceiling")
