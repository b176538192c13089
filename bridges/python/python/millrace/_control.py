"""The control channel between this process and its Node agent.

A stream socket on an inherited file descriptor carries one JSON object per line. This process
sends ``ready``, ``heartbeat``, ``metrics`` and ``error`` messages; the agent sends ``stop``.
A daemon thread reads the agent's messages and sends heartbeats, so liveness does not depend on
the user's code cooperating (only on the interpreter being alive and the GIL being released now
and then).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Callable, Dict, Optional


class ControlChannel:
    """JSON-lines messages over a socket file descriptor inherited from the agent."""

    def __init__(self, fd: int, on_stop: Callable[[str], None]) -> None:
        self._fd = fd
        self._on_stop = on_stop
        #: Called once if the agent's end closes: the agent died (or was killed), so nobody will
        #: ever ask this process to stop. The bootstrap sets it to stop the runner.
        self.on_lost: Optional[Callable[[], None]] = None
        # Processes the runner starts (DataLoader workers, subprocesses) must not hold the socket.
        os.set_inheritable(fd, False)
        self._write_lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="millrace-control", daemon=True)
        self._reader.start()

    def send(self, message: Dict[str, Any]) -> None:
        """Sends one message; a vanished agent is ignored here (the agent owns our lifetime)."""
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
        with self._write_lock:
            if self._closed:
                return
            try:
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
            except OSError:
                self._closed = True

    def start_heartbeat(self, interval_s: float) -> None:
        """Sends a heartbeat every ``interval_s`` seconds from a daemon thread."""

        def beat() -> None:
            while not self._closed:
                self.send({"type": "heartbeat"})
                threading.Event().wait(interval_s)

        threading.Thread(target=beat, name="millrace-heartbeat", daemon=True).start()

    def _read_loop(self) -> None:
        buffered = b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self._closed = True
                if self.on_lost is not None:
                    self.on_lost()
                return
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                self._dispatch(line)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "stop":
            self._on_stop(str(message.get("reason", "stop requested")))


def open_control_channel(fd_text: Optional[str], on_stop: Callable[[str], None]) -> Optional[ControlChannel]:
    """The channel named by ``MILLRACE_CONTROL_FD``, or ``None`` when running outside Millrace."""
    if not fd_text:
        return None
    try:
        fd = int(fd_text)
        os.fstat(fd)
    except (ValueError, OSError):
        return None
    return ControlChannel(fd, on_stop)
