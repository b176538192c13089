"""Distributed Python prediction: the entry a prediction role runs (``millrace_torch.predict:serve``).

Every input record (a tensor frame) yields exactly one output record, in input order: the frame's
feature tensor goes through the model in batches, and the output record carries the prediction
plus every other tensor of the frame (ids, keys) as plain values, so downstream can join on them.

Configured through the environment the TypeScript runner sets:
  MILLRACE_TORCH_MODEL     ``file.py:function`` or ``module:function``; called with the Context,
                           returns the model (a ``torch.nn.Module`` or any callable on a batch)
  MILLRACE_TORCH_FEATURES  name of the feature tensor in each frame (default ``features``)
  MILLRACE_TORCH_BATCH     most records per model call (default 256)
"""

import os

import numpy as np
import torch

MODEL_VARIABLE = "MILLRACE_TORCH_MODEL"
FEATURES_VARIABLE = "MILLRACE_TORCH_FEATURES"
BATCH_VARIABLE = "MILLRACE_TORCH_BATCH"


def _plain(value):
    # Output records are msgpack: numpy scalars and arrays become Python numbers and lists.
    return value.item() if value.ndim == 0 else value.tolist()


def predict_records(model, frames, features="features"):
    """One output record per frame, in order: ``{**other tensors, "prediction": [...]}``."""
    if not frames:
        return []
    for position, frame in enumerate(frames):
        if not isinstance(frame, dict) or features not in frame:
            has = ", ".join(frame) if isinstance(frame, dict) else type(frame).__name__
            raise KeyError(f"input record {position} has no '{features}' tensor (it has: {has})")
    batch = torch.from_numpy(np.stack([frame[features] for frame in frames]).astype(np.float32, copy=False))
    with torch.no_grad():
        output = model(batch)
    output = output.detach().cpu().reshape(len(frames), -1).numpy()
    records = []
    for frame, row in zip(frames, output):
        record = {name: _plain(value) for name, value in frame.items() if name != features}
        record["prediction"] = row.tolist()
        records.append(record)
    return records


def load_model(ctx, reference):
    from millrace import resolve_entry

    from millrace_torch.checkpoint import loading_a_model_to_predict

    factory = resolve_entry(reference)
    with loading_a_model_to_predict():
        model = factory(ctx)
    if isinstance(model, torch.nn.Module):
        model.eval()
    if not callable(model):
        raise TypeError(f"{reference} returned {type(model).__name__}, not a model (a torch.nn.Module or a callable)")
    return model


def serve(ctx):
    """Reads the input stream to its end, predicting batch by batch, and writes one record per input."""
    reference = os.environ.get(MODEL_VARIABLE)
    if not reference:
        raise RuntimeError(f"{MODEL_VARIABLE} is not set: the prediction runner names the model factory")
    if ctx.input is None or ctx.output is None:
        raise RuntimeError("a prediction role needs an input stream and a consumed output (use it in stream mode)")
    features = os.environ.get(FEATURES_VARIABLE, "features")
    batch_size = int(os.environ.get(BATCH_VARIABLE, "256"))
    model = load_model(ctx, reference)
    predicted = 0
    while True:
        frames = ctx.input.read_batch(batch_size)
        if frames is None:
            break
        ctx.output.write_batch(predict_records(model, frames, features))
        predicted += len(frames)
    ctx.report(predicted=predicted)
