"""Stream-mode DDP training entry: ``train(ctx)``, one call per worker.

Each worker trains on its own partition of the pipeline's stream: tensor frames of up to
CLICK_BATCH rows each (the pipeline batches them) through the shared-memory ring, cut into batches
of exactly CLICK_BATCH rows by millrace_torch's FrameDataset. Partitions are uneven, so the loop
runs inside DDP's ``join()``: a worker whose partition ended shadows the others' gradient
all-reduces until all are done, so nobody deadlocks and no sample is dropped.

Rank 0 checkpoints every CHECKPOINT_EVERY steps (atomically; a restarted cluster resumes from it)
and at the end writes the final checkpoint and exports the model to ONNX.
"""

import os

import torch
from torch.nn.parallel import DistributedDataParallel

from click_model import FEATURES, ClickModel, probability_model
from millrace_torch import frame_dataset, init_distributed, load_checkpoint, save_checkpoint, shutdown_distributed

BATCH = int(os.environ.get("CLICK_BATCH", "64"))
LEARNING_RATE = float(os.environ.get("CLICK_LEARNING_RATE", "0.02"))
CHECKPOINT_EVERY = int(os.environ.get("CLICK_CHECKPOINT_EVERY", "20"))
ONNX_FILE = "model.onnx"


def train(ctx):
    rank, world, device = init_distributed()
    torch.manual_seed(0)
    model = ClickModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    step, _ = load_checkpoint(model, optimizer, directory=ctx.checkpoint_dir)
    if step:
        print(f"rank {rank}: resuming from the checkpoint of step {step} (attempt {ctx.attempt})", flush=True)
    ddp = DistributedDataParallel(model)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    samples = 0
    with ddp.join():
        for features, labels in frame_dataset(ctx.input, BATCH, fields=("features", "label"), frames="batches"):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(ddp(features), labels.reshape(-1))
            loss.backward()
            optimizer.step()
            step += 1
            samples += len(labels)
            print(f"step {step:4d}  loss {float(loss):.4f}", flush=True)
            ctx.report(step=step, loss=float(loss), samples=samples)
            if rank == 0 and step % CHECKPOINT_EVERY == 0:
                save_checkpoint(ddp, optimizer, step, directory=ctx.checkpoint_dir)
    if rank == 0:
        save_checkpoint(ddp, optimizer, step, directory=ctx.checkpoint_dir)
        torch.onnx.export(
            probability_model(model),
            torch.zeros(1, FEATURES),
            os.path.join(ctx.checkpoint_dir, ONNX_FILE),
            input_names=["features"],
            output_names=["probability"],
            dynamic_axes={"features": {0: "batch"}, "probability": {0: "batch"}},
            opset_version=13,
        )
        print(f"rank 0: trained {step} steps; exported {ONNX_FILE}", flush=True)
    shutdown_distributed()
