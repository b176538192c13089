"""PyTorch helpers for Millrace workers: process group, checkpoints, uneven partitions, input datasets."""

from .checkpoint import CHECKPOINT_FILE, checkpoint_directory, checkpoint_path, load_checkpoint, save_checkpoint
from .distributed import device_for_rank, init_distributed, resolve_backend, shutdown_distributed
from .stream import FrameDataset, frame_dataset
from .uneven import agreed_batches

__all__ = [
    "CHECKPOINT_FILE",
    "FrameDataset",
    "agreed_batches",
    "checkpoint_directory",
    "checkpoint_path",
    "device_for_rank",
    "frame_dataset",
    "init_distributed",
    "load_checkpoint",
    "resolve_backend",
    "save_checkpoint",
    "shutdown_distributed",
]
