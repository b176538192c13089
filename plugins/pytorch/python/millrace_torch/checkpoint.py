"""Atomic checkpoints of model + optimizer + step, in the directory Millrace gives each job.

Atomic means a reader never sees half a file: the checkpoint is written to a temporary file in the
same directory, flushed to disk, then renamed over the previous one (``os.replace`` is atomic on
POSIX). A worker killed mid-save leaves the last good checkpoint in place, so after a failover
training resumes from it instead of from step zero.

Only rank 0 writes by default (every rank holds the same weights under DDP); every rank loads.
"""

import os
import tempfile

import torch

CHECKPOINT_FILE = "checkpoint.pt"


def checkpoint_directory(directory=None):
    """``directory``, else ``MILLRACE_CHECKPOINT_DIR``; created when missing."""
    resolved = directory or os.environ.get("MILLRACE_CHECKPOINT_DIR")
    if not resolved:
        raise RuntimeError(
            "no checkpoint directory: pass directory=... or run under Millrace, which sets "
            "MILLRACE_CHECKPOINT_DIR"
        )
    os.makedirs(resolved, exist_ok=True)
    return resolved


def checkpoint_path(directory=None):
    return os.path.join(checkpoint_directory(directory), CHECKPOINT_FILE)


def _unwrap(model):
    # DistributedDataParallel keeps the real module in .module; saving that keeps the checkpoint
    # loadable by a plain (non-distributed) model, e.g. for export or prediction.
    return getattr(model, "module", model)


def _is_rank_zero():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def save_checkpoint(model, optimizer=None, step=0, *, directory=None, extra=None, all_ranks=False):
    """Saves model, optimizer and step atomically; returns the path, or None on ranks that skip."""
    if not all_ranks and not _is_rank_zero():
        return None
    target = checkpoint_path(directory)
    state = {
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "extra": extra or {},
    }
    descriptor, temporary = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=os.path.dirname(target))
    try:
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return target


def load_checkpoint(model, optimizer=None, *, directory=None, map_location="cpu"):
    """Restores the last checkpoint into ``model`` (and ``optimizer``).

    Returns ``(step, extra)``: ``(0, {})`` when there is no checkpoint yet, so the same code path
    starts fresh on the first attempt and resumes on later ones.
    """
    target = checkpoint_path(directory)
    if not os.path.exists(target):
        return 0, {}
    state = torch.load(target, map_location=map_location)
    _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), state.get("extra") or {}
