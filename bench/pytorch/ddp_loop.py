"""The training loop every variant of the PyTorch benchmark shares: a small MLP under DDP (gloo).

Variants differ only in where batches come from (the ring, memory, a multiprocessing.Queue), so
the samples/s they report compare the feeding, not the model. Each rank times the steps after a
warm-up and prints one JSON line; rank 0's line also carries the wall-clock time of its first step,
so the launcher can measure "job start to first training step".
"""

import json
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

FEATURES = int(os.environ.get("BENCH_FEATURES", "32"))
BATCH = int(os.environ.get("BENCH_BATCH", "256"))
STEPS = int(os.environ.get("BENCH_STEPS", "300"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "30"))
HIDDEN = int(os.environ.get("BENCH_HIDDEN", "64"))


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1)
    )


def train(batches, variant):
    """Trains on ``batches`` (an iterable of ``(features, labels)``) and reports samples/s.

    Stops after STEPS steps or when every rank ran out (DDP ``join`` handles uneven ends).
    """
    if not dist.is_initialized():
        dist.init_process_group("gloo", init_method="env://")
    rank = dist.get_rank()
    model = DistributedDataParallel(make_model())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    first_step_at = None
    started = None
    samples = 0
    steps = 0
    with model.join():
        for features, labels in batches:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(features).squeeze(1), labels).backward()
            optimizer.step()
            steps += 1
            if first_step_at is None:
                first_step_at = time.time()
            if steps == WARMUP:
                started = time.perf_counter()
            elif steps > WARMUP:
                samples += features.shape[0]
            if steps >= STEPS:
                break
    elapsed = time.perf_counter() - started if started else float("nan")
    report = {
        "variant": variant,
        "rank": rank,
        "steps": steps,
        "samples_per_second": samples / elapsed if samples else 0.0,
        "first_step_at": first_step_at,
    }
    print(json.dumps(report), flush=True)
    sys.stdout.flush()
    dist.destroy_process_group()
    return report
