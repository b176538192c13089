"""Ceiling: the DDP loop over batches already in memory (pre-made tensors, no I/O at all).

Like the ring variant's source, it cycles a pool of 8 distinct batches, so both loops touch the
same amount of memory per step and differ only in how the batch reaches the loop.
"""

import itertools
import os

import torch

from ddp_loop import BATCH, FEATURES, STEPS, train

POOL = 8
generator = torch.Generator().manual_seed(int(os.environ["RANK"]))
pool = []
for _ in range(POOL):
    features = torch.rand(BATCH, FEATURES, generator=generator) * 2 - 1
    pool.append((features, (features[:, 0] > 0).float()))
train(itertools.islice(itertools.cycle(pool), STEPS), "ceiling")
