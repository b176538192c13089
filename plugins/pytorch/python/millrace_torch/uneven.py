"""Uneven partitions without a DDP deadlock.

In stream mode each worker trains on its own partition of the stream, and partitions rarely hold the
same number of batches. DDP all-reduces gradients in every backward pass, so a rank that stops early
leaves the others blocked in a collective forever. Two strategies, pick by what the loop does:

1. ``model.join()`` (torch's uneven-inputs context manager, the default in Millrace's examples): a
   rank that runs out of data shadows the others' gradient all-reduces until every rank is done.
   Nothing is dropped. Only DDP's own collectives may run inside it: a loop that calls
   ``dist.all_reduce`` itself (e.g. to average the loss for logging) would hang under ``join``.

2. ``agreed_batches(batches)``: before every step the ranks all-reduce a "have data" flag and all
   stop at the first step where any rank has none, so every rank runs exactly the same number of
   steps and any collective is safe in the loop. The price is that the longer partitions' tail (at
   most the imbalance between partitions) is not trained on.
"""

import torch
import torch.distributed as dist


def agreed_batches(batches, *, device=None, group=None):
    """Yields from ``batches`` while every rank still has a batch; all ranks stop on the same step.

    ``device`` must be where the backend's tensors live (CUDA under nccl); it defaults to the CPU.
    """
    flag_device = device or torch.device("cpu")
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
            have = 1
        except StopIteration:
            batch = None
            have = 0
        flag = torch.tensor([have], dtype=torch.int32, device=flag_device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=group)
        if int(flag.item()) == 0:
            return
        yield batch
