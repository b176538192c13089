"""The :class:`Context` a runner gets: who it is in the cluster, its data, and its link to the agent."""

from __future__ import annotations

import json
import math
import os
import threading
from typing import Any, Dict, List, Mapping, Optional

from . import _environment as names
from ._codecs import codec
from ._control import ControlChannel, open_control_channel
from ._memory import keep_freed_record_memory
from ._streams import InputStream, OutputStream


class NotUnderMillraceError(RuntimeError):
    """Raised by :func:`context` in a process that the Millrace runner host did not start."""


class Context:
    """Everything a Python runner needs from Millrace.

    Attributes:
        job_name: the job this node belongs to.
        role: the node's role, e.g. ``"worker"``.
        index: the node's index within its role (0-based).
        generation: the cluster generation; it grows by one at every restart.
        attempt: how many times this node was started before (0 on the first start).
        cluster_spec: every node of the cluster: ``{"jobName", "generation", "roles": {role: [node]}}``,
            each node ``{"role", "index", "host", "ports": {name: port}}``.
        checkpoint_dir: a directory that survives restarts, for checkpoints.
        input: records from the pipeline (stream-mode roles), else ``None``.
        output: records back to the pipeline (when the role's output is consumed), else ``None``.
        resume_position: the input position this start resumes after: ``input`` yields record
            ``resume_position + 1`` of this node's stream first (0 on a first start).
    """

    def __init__(
        self,
        *,
        job_name: str,
        role: str,
        index: int,
        generation: int,
        attempt: int,
        cluster_spec: Mapping[str, Any],
        checkpoint_dir: str,
        input: Optional[InputStream] = None,
        output: Optional[OutputStream] = None,
        control: Optional[ControlChannel] = None,
        resume_position: int = 0,
    ) -> None:
        self.job_name = job_name
        self.role = role
        self.index = index
        self.generation = generation
        self.attempt = attempt
        self.cluster_spec = dict(cluster_spec)
        self.checkpoint_dir = checkpoint_dir
        self.input = input
        self.output = output
        self._control = control
        self.resume_position = resume_position
        if input is not None:
            input.position = resume_position
        self._stop = threading.Event()
        self.stop_reason: Optional[str] = None

    @property
    def stopping(self) -> bool:
        """True once the agent asked this runner to stop (job stop or a restart). Check it between steps."""
        return self._stop.is_set()

    def wait_for_stop(self, timeout: Optional[float] = None) -> bool:
        """Blocks until a stop is requested (or ``timeout`` seconds pass); returns :attr:`stopping`."""
        return self._stop.wait(timeout)

    def request_stop(self, reason: str) -> None:
        """Marks the runner as stopping; the control channel calls this when the agent asks."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def nodes(self, role: str) -> List[Dict[str, Any]]:
        """The nodes of ``role`` in the cluster spec, ordered by index (``[]`` for an unknown role)."""
        return list(self.cluster_spec.get("roles", {}).get(role, []))

    def report(self, **metrics: float) -> None:
        """Reports numbers to the agent's metrics reporter, e.g. ``ctx.report(loss=0.3, step=10)``.

        Values must be finite numbers; anything else raises ``ValueError`` naming the metric.
        Outside Millrace (no control channel) this is a no-op.
        """
        values: Dict[str, float] = {}
        for name, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                try:
                    value = float(value)  # numpy and torch scalars
                except (TypeError, ValueError):
                    raise ValueError(f"metric {name!r} must be a number, got {type(value).__name__}") from None
            if not math.isfinite(value):
                raise ValueError(f"metric {name!r} must be finite, got {value!r}")
            values[name] = value
        if self._control is not None and values:
            self._control.send({"type": "metrics", "values": values})

    @property
    def position(self) -> int:
        """The input position: records of this node's stream consumed so far, across restarts."""
        return self.input.position if self.input is not None else self.resume_position

    def checkpointed(self, position: Optional[int] = None) -> None:
        """Acknowledges a checkpoint covering input positions ``1 … position`` (default: :attr:`position`).

        Call it once the checkpoint holding that position is durably written. The output stream is
        flushed first, so records written before the checkpoint are never lost with it. With replay
        on, a restarted runner then receives exactly the records after ``position``. Engines'
        checkpoint helpers (``millrace_torch.save_checkpoint``) call it for you.
        """
        if position is None:
            position = self.position
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise ValueError(f"position must be a non-negative integer, got {position!r}")
        if self.output is not None and not self.output.closed:
            self.output.flush()
        if self._control is not None:
            self._control.send({"type": "checkpointed", "position": position})

    def _release_transports(self) -> None:
        """Detaches from the rings (the bootstrap calls this as the process ends)."""
        for stream in (self.input, self.output):
            if stream is not None:
                try:
                    stream._release()
                except Exception:  # noqa: BLE001 - the process is ending; the agent sees the exit
                    pass

    def __repr__(self) -> str:
        return f"Context(job={self.job_name!r}, role={self.role!r}, index={self.index}, generation={self.generation})"


_context: Optional[Context] = None
_lock = threading.Lock()


def context() -> Context:
    """The runner's :class:`Context`, built once from the environment the host set.

    Plain scripts (``script`` runners) call this; entry functions receive the same object.
    Raises :class:`NotUnderMillraceError` when the process was not started by Millrace.
    """
    global _context
    with _lock:
        if _context is None:
            _context = context_from_environment(os.environ)
        return _context


def context_from_environment(environment: Mapping[str, str]) -> Context:
    """Builds a :class:`Context` from ``MILLRACE_*`` variables (see ``_environment``)."""
    if names.ROLE not in environment:
        raise NotUnderMillraceError(
            f"{names.ROLE} is not set: this process was not started by the Millrace runner host "
            "(start it with pythonRunner from @millrace/bridge-python)"
        )
    input_stream = None
    output_stream = None
    if environment.get(names.INPUT_RING) or environment.get(names.INPUT_FD):
        keep_freed_record_memory()  # every record read is copied into new memory, dropped soon after
        codec_name = environment.get(names.INPUT_CODEC, "raw")
        decode, _ = codec(codec_name)
        if environment.get(names.INPUT_RING):
            from ._rings import open_input_ring

            source: Any = open_input_ring(environment[names.INPUT_RING], codec_name)
        else:
            from ._pipes import PipeSource

            source = PipeSource(int(environment[names.INPUT_FD]))
        input_stream = InputStream(source, decode, codec_name)
    if environment.get(names.OUTPUT_RING) or environment.get(names.OUTPUT_FD):
        codec_name = environment.get(names.OUTPUT_CODEC, "raw")
        _, encode = codec(codec_name)
        if environment.get(names.OUTPUT_RING):
            from ._rings import open_output_ring

            sink: Any = open_output_ring(environment[names.OUTPUT_RING], codec_name)
        else:
            from ._pipes import PipeSink

            sink = PipeSink(int(environment[names.OUTPUT_FD]))
        output_stream = OutputStream(sink, encode, codec_name)

    if input_stream is not None and output_stream is not None:
        input_stream.before_wait = output_stream.flush

    holder: Dict[str, Context] = {}
    control = open_control_channel(
        environment.get(names.CONTROL_FD),
        lambda reason: holder["context"].request_stop(reason) if "context" in holder else None,
    )
    built = Context(
        job_name=environment.get(names.JOB_NAME, ""),
        role=environment[names.ROLE],
        index=int(environment.get(names.INDEX, "0")),
        generation=int(environment.get(names.GENERATION, "0")),
        attempt=int(environment.get(names.ATTEMPT, "0")),
        cluster_spec=json.loads(environment.get(names.CLUSTER_SPEC, "{}")),
        checkpoint_dir=environment.get(names.CHECKPOINT_DIR, os.getcwd()),
        input=input_stream,
        output=output_stream,
        control=control,
        resume_position=int(environment.get(names.RESUME_POSITION, "0")),
    )
    holder["context"] = built
    return built


def _control_of(context_: Context) -> Optional[ControlChannel]:
    return context_._control
