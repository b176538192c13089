"""Millrace for Python runners.

A runner started by ``pythonRunner`` from ``@millrace/bridge-python`` gets a :class:`Context`:
its place in the cluster, an ``input`` stream of records from the pipeline, an ``output`` stream
back to it, ``report(**metrics)`` and a ``stopping`` flag. Entry functions receive it as their
argument; plain scripts call :func:`context`.

Only the standard library is needed. The numpy and torch adapters import their library when used.
"""

from ._bootstrap import StopRequested, resolve_entry
from ._codecs import CODEC_NAMES, codec
from ._context import Context, NotUnderMillraceError, context, context_from_environment
from ._streams import InputStream, OutputStream, RecordSink, RecordSource

__all__ = [
    "CODEC_NAMES",
    "Context",
    "InputStream",
    "NotUnderMillraceError",
    "OutputStream",
    "RecordSink",
    "RecordSource",
    "StopRequested",
    "codec",
    "context",
    "context_from_environment",
    "resolve_entry",
]

__version__ = "0.1.0"
