"""Atomic checkpoints of model + optimizer + step, in the directory Millrace gives each job.

Atomic means a reader never sees half a file: the checkpoint is written to a temporary file in the
same directory, flushed to disk, then renamed over the previous one (``os.replace`` is atomic on
POSIX). A worker killed mid-save leaves the last good checkpoint in place, so after a failover
training resumes from it instead of from step zero.

Only rank 0 writes by default (every rank holds the same weights under DDP); every rank loads.

Loading is safe against a planted file. A torch checkpoint is a pickle, and unpickling an arbitrary
file runs whatever code it names, as the user who loads it. ``load_checkpoint`` therefore
unpickles with an allow-list: tensors, storages, ``OrderedDict`` and plain data, nothing else
(``torch.load(weights_only=True)``; on torch 1.13, whose weights-only reader cannot read floats
such as an optimizer's learning rate, torch's zip reader runs with Python's own unpickler held to
the same allow-list torch uses). A checkpoint holding any other object is refused with an error naming it; pass
``trusted=True`` only for a file you wrote yourself. The checkpoint directory must belong to the
user who loads from it: one owned by someone else is refused.

Model versions: each checkpoint is also published as the next model version (``versions/``, the
manifest format of ``@millrace/core``, see ``millrace_torch.versions``), pointing at a hard link of
that checkpoint file under ``published/`` (no copy: the next save replaces ``checkpoint.pt``'s name,
not its content). The manifest records the step, the input position the checkpoint covers (keyed
``<role>-<index>``) and any held-out ``metrics`` passed to ``save_checkpoint``; prediction runners
that follow the directory pick it up. The newest ``KEEP_PUBLISHED`` published files are kept.

Replay (stream-mode roles): the checkpoint also stores the writing rank's input position (how many
of its node's input records the model has consumed), and ``save_checkpoint`` acknowledges that
position to Millrace once the file is in place. After a restart, ``load_checkpoint`` lines the
input up with the checkpoint: the restarted runner receives the records after the last
acknowledged position, and if the checkpoint is newer (killed between writing and acknowledging)
it skips the difference. Every record then affects the saved model exactly once. Exactness needs
each input-reading rank to checkpoint its own position: a single worker, or ``all_ranks=True`` with
one ``directory`` per rank.
"""

import contextlib
import contextvars
import os
import pickle
import secrets
import tempfile
import types

import torch

CHECKPOINT_FILE = "checkpoint.pt"
PUBLISHED_DIRECTORY = "published"
# Published files kept: a follower loads the newest version within a poll or two, so older files
# are only read by a follower that fell behind, which then refuses the gone one and takes a newer.
KEEP_PUBLISHED = 3


def checkpoint_directory(directory=None):
    """``directory``, else ``MILLRACE_CHECKPOINT_DIR``; created when missing."""
    resolved = directory or os.environ.get("MILLRACE_CHECKPOINT_DIR")
    if not resolved:
        raise RuntimeError(
            "no checkpoint directory: pass directory=... or run under Millrace, which sets "
            "MILLRACE_CHECKPOINT_DIR"
        )
    os.makedirs(resolved, mode=0o700, exist_ok=True)
    owner = os.stat(resolved).st_uid
    if owner != os.getuid():
        raise PermissionError(
            f"checkpoint directory {resolved!r} belongs to uid {owner}, not to this user (uid "
            f"{os.getuid()}): a checkpoint there could have been planted; use a directory of your own"
        )
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


def _stream_context():
    """The Millrace context when this process reads a stream-mode input, else None."""
    if not os.environ.get("MILLRACE_ROLE"):
        return None
    try:
        import millrace
    except ImportError:
        return None
    ctx = millrace.context()
    return ctx if ctx.input is not None else None


def save_checkpoint(
    model, optimizer=None, step=0, *, directory=None, extra=None, all_ranks=False, position=None,
    publish=True, metrics=None,
):
    """Saves model, optimizer and step atomically; returns the path, or None on ranks that skip.

    In a stream-mode role the input position (default: the records this node has consumed so far,
    ``ctx.position``) is stored too and acknowledged to Millrace after the file is in place.
    With ``publish`` (default) the checkpoint becomes the next model version, with ``metrics``
    (held-out numbers a prediction gate may judge it by) in its manifest.
    """
    if not all_ranks and not _is_rank_zero():
        return None
    target = checkpoint_path(directory)
    ctx = _stream_context()
    if position is None and ctx is not None:
        position = ctx.position
    state = {
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "extra": extra or {},
        "position": None if position is None else int(position),
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
    if publish:
        _publish(target, int(step), position, ctx, metrics)
    if ctx is not None and position is not None:
        ctx.checkpointed(int(position))
    return target


def _publish(target, step, position, ctx, metrics):
    from millrace_torch.versions import publish_version

    directory = os.path.dirname(target)
    published = os.path.join(directory, PUBLISHED_DIRECTORY)
    os.makedirs(published, mode=0o700, exist_ok=True)
    name = f"checkpoint-{step:09d}-{os.getpid()}-{secrets.token_hex(4)}.pt"
    os.link(target, os.path.join(published, name))
    input_position = None
    if position is not None:
        role = ctx.role if ctx is not None else os.environ.get("MILLRACE_ROLE", "worker")
        index = ctx.index if ctx is not None else int(os.environ.get("MILLRACE_INDEX", "0"))
        input_position = {f"{role}-{index}": int(position)}
    publish_version(directory, os.path.join(published, name), step, input_position=input_position, metrics=metrics)
    old = sorted(entry for entry in os.listdir(published) if entry.endswith(".pt"))
    for entry in old[:-KEEP_PUBLISHED]:
        os.unlink(os.path.join(published, entry))


def _allowed_global(module, name):
    # The allow-list of torch's own weights-only reader: tensor and storage classes, dtypes, the
    # functions that rebuild tensors, OrderedDict, torch.Size. Nothing that can run code.
    from torch._weights_only_unpickler import _get_allowed_globals

    found = _get_allowed_globals().get(f"{module}.{name}")
    if found is None:
        raise pickle.UnpicklingError(
            f"checkpoint refused: it holds '{module}.{name}', which is not tensors or plain data "
            "(loading it would run code from the file); pass trusted=True only for a file you wrote"
        )
    return found


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return _allowed_global(module, name)


# torch.load takes a pickle *module*; this one unpickles only allow-listed globals.
_allow_list_pickle = types.ModuleType("millrace_allow_list_pickle")
_allow_list_pickle.Unpickler = _AllowListUnpickler
_allow_list_pickle.load = lambda file, **kwargs: _AllowListUnpickler(file, **kwargs).load()


def _load_weights(target, map_location):
    try:
        return torch.load(target, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch 1.13's weights-only reader lacks some opcodes (floats); the allow-list still holds.
        if "Unsupported operand" not in str(error):
            raise
    # torch.load ignores `pickle_module` unless weights_only is set (1.13), so its zip reader is
    # called directly with the allow-list unpickler. Checkpoints are zip files since torch 1.6.
    from torch import serialization

    with serialization._open_file_like(target, "rb") as opened:
        if not serialization._is_zipfile(opened):
            raise pickle.UnpicklingError(f"checkpoint refused: {target!r} is not a torch zip checkpoint")
        with serialization._open_zipfile_reader(opened) as archive:
            return serialization._load(archive, map_location, _allow_list_pickle, encoding="utf-8")


def load_checkpoint(model, optimizer=None, *, directory=None, map_location="cpu", trusted=False, resume_input=None):
    """Restores the last checkpoint into ``model`` (and ``optimizer``).

    Returns ``(step, extra)``: ``(0, {})`` when there is no checkpoint yet, so the same code path
    starts fresh on the first attempt and resumes on later ones. Only tensors and plain data are
    unpickled unless ``trusted=True`` (see the module's docstring for why).

    ``resume_input`` (default: on, except while a prediction runner loads its model) lines this
    node's input up with the checkpoint's position: right for a trainer resuming its own
    checkpoint, wrong for a model loaded to score another stream. Only a restarted node
    (``ctx.attempt > 0``) resumes its input: on a node's first start the position belongs to an
    earlier run of the job (a reused checkpoint directory), whose stream this run does not replay,
    so the model starts from the checkpoint and the input from its beginning.
    """
    target = checkpoint_path(directory)
    if not os.path.exists(target):
        return 0, {}
    state = torch.load(target, map_location=map_location) if trusted else _load_weights(target, map_location)
    _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    position = state.get("position")
    ctx = _stream_context()
    aligning = _resuming_input.get() if resume_input is None else resume_input
    if position is not None and ctx is not None and aligning and ctx.attempt > 0:
        _align_input(ctx, int(position), target)
    return int(state["step"]), state.get("extra") or {}


# Off while a prediction runner builds its model: the checkpoint's input position belongs to the
# training stream that wrote it, not to the stream being scored.
_resuming_input = contextvars.ContextVar("millrace_torch_resuming_input", default=True)


@contextlib.contextmanager
def loading_a_model_to_predict():
    """Within it, ``load_checkpoint`` does not line the input up with the checkpoint's position."""
    token = _resuming_input.set(False)
    try:
        yield
    finally:
        _resuming_input.reset(token)


def _align_input(ctx, position, target):
    """Makes the next input record the one after ``position`` (the checkpoint's)."""
    behind = position - ctx.input.position
    if behind < 0:
        raise RuntimeError(
            f"checkpoint {target} covers input up to position {position}, but Millrace resumes this "
            f"node after position {ctx.input.position}: records {position + 1}..{ctx.input.position} "
            "would be lost. Was the checkpoint directory replaced, or another runner's checkpoint loaded?"
        )
    while behind > 0:
        # Killed between writing the checkpoint and acknowledging it: these records are in it.
        records = ctx.input.read_raw_batch(min(behind, 4096))
        if records is None:
            raise RuntimeError(f"the input ended {behind} records before checkpoint {target}'s position {position}")
        behind -= len(records)
    ctx.checkpointed(position)
