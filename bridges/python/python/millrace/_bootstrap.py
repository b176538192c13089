"""Starts a runner inside the child process: ``python -m millrace --entry mod:fn`` or ``--script file``.

The bootstrap builds the :class:`~millrace.Context`, starts heartbeats, turns SIGTERM into a
:class:`StopRequested` exception (so ``finally`` blocks and ``with`` statements run), resolves
and calls the user's code, and reports an uncaught exception to the agent with its traceback
before exiting with status 1. On success the output stream is closed (end-of-stream).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import runpy
import signal
import sys
import traceback
from typing import Any, Callable, List, Optional

from . import _environment as names
from ._context import Context, _control_of, context
from ._control import open_control_channel

#: The exit status after a stop request that the user's code did not handle itself (128 + SIGTERM).
STOPPED_EXIT_STATUS = 143


class StopRequested(BaseException):
    """Raised in the main thread when the agent stops this runner (SIGTERM).

    A ``BaseException`` so that ``except Exception`` in user code does not swallow it.
    """


class EntryError(Exception):
    """The entry point could not be resolved (bad module, file or function name)."""


def resolve_entry(entry: str) -> Callable[[Context], Any]:
    """``module:function`` or ``path/to/file.py:function`` → the function."""
    target, separator, function_name = entry.rpartition(":")
    if not separator or not target or not function_name:
        raise EntryError(f"entry {entry!r} must look like 'module:function' or 'path/file.py:function'")
    if target.endswith(".py") or os.sep in target:
        path = os.path.abspath(target)
        if not os.path.isfile(path):
            raise EntryError(f"entry file {path!r} does not exist (cwd is {os.getcwd()!r})")
        module_name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise EntryError(f"cannot load {path!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, os.path.dirname(path))
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise EntryError(f"{target!r} has no function {function_name!r}")
    return function


def _report_exception(ctx: Optional[Context], error: BaseException) -> None:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    sys.stderr.write(text)
    sys.stderr.flush()
    if ctx is not None:
        control = _control_of(ctx)
    else:
        # The context itself could not be built (a ring would not open, say): report through a
        # channel of our own so the agent still gets the traceback as data.
        control = open_control_channel(os.environ.get(names.CONTROL_FD), lambda reason: None)
    if control is not None:
        control.send(
            {
                "type": "error",
                "exception": type(error).__name__,
                "message": str(error),
                "traceback": text,
            }
        )


def main(argv: List[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("--entry", "--script"):
        sys.stderr.write("usage: python -m millrace --entry module:function | --script file.py [args...]\n")
        return 2
    mode, target, script_args = argv[0], argv[1], argv[2:]

    ctx: Optional[Context] = None
    try:
        ctx = context()

        def on_sigterm(signum: int, frame: Any) -> None:
            assert ctx is not None
            ctx.request_stop("SIGTERM")
            raise StopRequested()

        signal.signal(signal.SIGTERM, on_sigterm)
        control = _control_of(ctx)
        if control is not None:
            # The agent is gone (its end of the socket closed): stop as if it had asked to.
            def on_lost() -> None:
                assert ctx is not None
                ctx.request_stop("the agent's control connection closed")
                os.kill(os.getpid(), signal.SIGTERM)

            control.on_lost = on_lost
            control.start_heartbeat(int(os.environ.get(names.HEARTBEAT_MS, "1000")) / 1000)

        if mode == "--entry":
            function = resolve_entry(target)
            if control is not None:
                control.send({"type": "ready"})
            result = function(ctx)
        else:
            if control is not None:
                control.send({"type": "ready"})
            sys.argv = [target, *script_args]
            runpy.run_path(target, run_name="__main__")
            result = None
        del result
        if ctx.output is not None:
            ctx.output.close()
        return 0
    except StopRequested:
        return STOPPED_EXIT_STATUS
    except SystemExit as exit_:
        code = exit_.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if status == 0 and ctx is not None and ctx.output is not None:
            ctx.output.close()
        elif not isinstance(code, int) and code is not None:
            sys.stderr.write(f"{code}\n")
        return status
    except BaseException as error:  # noqa: BLE001 - everything reaches the agent, with its traceback
        _report_exception(ctx, error)
        return 1
    finally:
        if ctx is not None:
            ctx._release_transports()
        sys.stdout.flush()
        sys.stderr.flush()
