"""PyTorch helpers for Millrace workers: process group, checkpoints, uneven partitions."""

from .checkpoint import CHECKPOINT_FILE, checkpoint_directory, checkpoint_path, load_checkpoint, save_checkpoint
from .distributed import device_for_rank, init_distributed, resolve_backend, shutdown_distributed
from .uneven import agreed_batches

__all__ = [
    "CHECKPOINT_FILE",
    "agreed_batches",
    "checkpoint_directory",
    "checkpoint_path",
    "device_for_rank",
    "init_distributed",
    "load_checkpoint",
    "resolve_backend",
    "save_checkpoint",
    "shutdown_distributed",
]
