"""Joining the torch.distributed process group the way torchrun's workers do.

Millrace gives every worker the torchrun environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...),
so ``init_process_group(backend, init_method="env://")`` just works. This module adds the one decision
torchrun leaves to the script: the backend. ``MILLRACE_TORCH_BACKEND`` is ``auto`` unless the engine
was told otherwise; ``auto`` means nccl when this process sees CUDA, gloo otherwise, so a CPU-only
machine never needs nccl.
"""

import datetime
import os

import torch
import torch.distributed as dist

_BACKENDS = ("auto", "gloo", "nccl")


def resolve_backend(requested=None):
    """The backend to use: ``requested``, else ``MILLRACE_TORCH_BACKEND``, with ``auto`` resolved."""
    backend = requested or os.environ.get("MILLRACE_TORCH_BACKEND", "auto")
    if backend not in _BACKENDS:
        raise ValueError(
            f"MILLRACE_TORCH_BACKEND must be one of {', '.join(_BACKENDS)}, got {backend!r}"
        )
    if backend == "auto":
        return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "nccl" and not torch.cuda.is_available():
        raise RuntimeError(
            "the nccl backend needs CUDA, which this process does not see; use backend 'gloo' or 'auto'"
        )
    return backend


def device_for_rank(backend):
    """The device a rank should train on: its local GPU under nccl, the CPU under gloo."""
    if backend == "nccl":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(backend=None, timeout_seconds=120):
    """Joins the process group from the torchrun environment (idempotent).

    Returns ``(rank, world_size, device)``. The timeout bounds every collective, so a rank that died
    makes the others fail (and the cluster restart) instead of waiting forever.
    """
    resolved = resolve_backend(backend)
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise RuntimeError(
                f"{name} is not set: run this script under Millrace (or torchrun), which sets the "
                "torch.distributed environment"
            )
    if not dist.is_initialized():
        dist.init_process_group(
            resolved, init_method="env://", timeout=datetime.timedelta(seconds=timeout_seconds)
        )
    return dist.get_rank(), dist.get_world_size(), device_for_rank(resolved)


def shutdown_distributed():
    """Leaves the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
