"""Distributed Python prediction: the entry a prediction role runs (``millrace_torch.predict:serve``).

Every input record (a tensor frame) yields exactly one output record, in input order: the frame's
feature tensor goes through the model in batches, and the output record carries the prediction
plus every other tensor of the frame (ids, keys) as plain values, so downstream can join on them.

Configured through the environment the TypeScript runner sets:
  MILLRACE_TORCH_MODEL     ``file.py:function`` or ``module:function``; called with the Context,
                           returns the model (a ``torch.nn.Module`` or any callable on a batch)
  MILLRACE_TORCH_FEATURES  name of the feature tensor in each frame (default ``features``)
  MILLRACE_TORCH_BATCH     most records per model call (default 256)
  MILLRACE_TORCH_FOLLOW    a checkpoint directory whose published model versions to follow (optional)
  MILLRACE_TORCH_FOLLOW_POLICY       ``latest`` (default) or ``every:N``
  MILLRACE_TORCH_FOLLOW_GATE         ``file.py:function`` or ``module:function``, called with the new
                                     version's manifest and the serving one's (None for the factory's
                                     model); the version is served only when it returns true
  MILLRACE_TORCH_FOLLOW_POLL_MS      how often the versions are read (default 100)
  MILLRACE_TORCH_FOLLOW_FIRST_MS     when set, wait up to this long for the first version before
                                     scoring anything (else the factory's model serves until then)

Following: each version's state dict is loaded into a copy of the factory's model in a background
thread (``millrace_torch.versions.VersionFollower``) and swapped in between two batches, so each
batch is scored by one version and no record is dropped, repeated or reordered by a swap. Every
output record then carries ``model_version`` (None while the factory's model serves). Refused
versions (unreadable, incompatible state dict, gate) are logged on stderr and counted in the
``model_versions_refused`` metric; the serving model keeps serving.
"""

import os

import numpy as np
import torch

MODEL_VARIABLE = "MILLRACE_TORCH_MODEL"
FEATURES_VARIABLE = "MILLRACE_TORCH_FEATURES"
BATCH_VARIABLE = "MILLRACE_TORCH_BATCH"
FOLLOW_VARIABLE = "MILLRACE_TORCH_FOLLOW"
FOLLOW_POLICY_VARIABLE = "MILLRACE_TORCH_FOLLOW_POLICY"
FOLLOW_GATE_VARIABLE = "MILLRACE_TORCH_FOLLOW_GATE"
FOLLOW_POLL_VARIABLE = "MILLRACE_TORCH_FOLLOW_POLL_MS"
FOLLOW_FIRST_VARIABLE = "MILLRACE_TORCH_FOLLOW_FIRST_MS"


def _plain(value):
    # Output records are msgpack: numpy scalars and arrays become Python numbers and lists.
    return value.item() if value.ndim == 0 else value.tolist()


def predict_records(model, frames, features="features", version=None, with_version=False):
    """One output record per frame, in order: ``{**other tensors, "prediction": [...]}``, plus
    ``"model_version"`` (``version``'s number, or None) when ``with_version``."""
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
        if with_version:
            record["model_version"] = None if version is None else version["version"]
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


def follower_from_environment(model, environment=os.environ):
    """The VersionFollower the environment asks for (started), or None when it asks for none."""
    from millrace import resolve_entry

    from millrace_torch.versions import VersionFollower, parse_policy

    directory = environment.get(FOLLOW_VARIABLE)
    if not directory:
        return None
    gate_reference = environment.get(FOLLOW_GATE_VARIABLE)
    return VersionFollower(
        directory,
        model,
        every=parse_policy(environment.get(FOLLOW_POLICY_VARIABLE)),
        gate=resolve_entry(gate_reference) if gate_reference else None,
        poll_seconds=int(environment.get(FOLLOW_POLL_VARIABLE, "100")) / 1000,
    ).start()


def serve_frames(ctx, model, features="features", batch_size=256, follower=None):
    """The prediction loop: one output record per input record, in order; with a follower, swaps
    versions between batches. Returns the number of records predicted."""
    predicted = 0
    refused = 0
    while True:
        frames = ctx.input.read_batch(batch_size)
        if frames is None:
            break
        if follower is not None:
            swapped = follower.take()  # between two batches: the whole batch is scored by one version
            if swapped or len(follower.refused) != refused:
                refused = len(follower.refused)
                version = follower.serving_version
                ctx.report(
                    model_swaps=follower.swaps,
                    model_versions_refused=refused,
                    model_version=0 if version is None else version["version"],
                )
            model = follower.serving_model
            records = predict_records(model, frames, features, follower.serving_version, with_version=True)
        else:
            records = predict_records(model, frames, features)
        ctx.output.write_batch(records)
        predicted += len(frames)
    return predicted


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
    follower = follower_from_environment(model)
    try:
        first_ms = os.environ.get(FOLLOW_FIRST_VARIABLE)
        if follower is not None and first_ms:
            if not follower.wait_for_ready(int(first_ms) / 1000):
                raise TimeoutError(
                    f"no servable model version was published in {follower.directory}/versions within "
                    f"{first_ms} ms (is the trainer publishing there? refused: {[str(e) for e in follower.refused]})"
                )
            follower.take()
        predicted = serve_frames(ctx, model, features, batch_size, follower)
    finally:
        if follower is not None:
            follower.close()
    ctx.report(predicted=predicted)
