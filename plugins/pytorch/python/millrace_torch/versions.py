"""Model versions for torch: publishing a checkpoint as a version, and following published versions.

The manifest format is ``@millrace/core``'s ``ModelVersion`` (``specificationVersion: "v1"``), one file
per version under ``<checkpoint directory>/versions/``, named by its zero-padded number, exactly as
``publishModelVersion`` of ``@millrace/runner-kit`` writes it: the TypeScript and Python sides read
each other's manifests. A manifest is written to a private temporary file and hard-linked to its
numbered name; ``os.link`` is atomic and fails when the name exists, so a reader never sees half a
manifest and two racing publishers never share a number (the loser takes the next).

:class:`VersionFollower` is the Python counterpart of runner-kit's ``ModelFollower`` (the prediction
runner runs in Python, so it cannot share the TypeScript one): a background thread polls the
versions, loads the one the policy picks, refuses it when unreadable, incompatible (its state dict
does not fit the serving model: another input or output shape) or rejected by the gate, and holds
the newest accepted one until the prediction loop takes it between two batches.
"""

import copy
import datetime
import json
import os
import re
import secrets
import sys
import threading

VERSIONS_DIRECTORY = "versions"
TORCH_STATE_DICT_FORMAT = "torch-state-dict"
_MANIFEST_NAME = re.compile(r"^(\d{9,})\.json$")


class ModelVersionRejectedError(Exception):
    """A published version was refused (``unreadable``, ``incompatible`` or ``gate-rejected``); the
    previous version keeps serving. The message has the shape core's error of the same name has."""

    def __init__(self, version, path, reason, message):
        super().__init__(
            f"Model version {version} ({path}) was refused ({reason}): {message}; the previous version keeps serving"
        )
        self.version = version
        self.path = path
        self.reason = reason


def versions_directory(checkpoint_directory):
    return os.path.join(checkpoint_directory, VERSIONS_DIRECTORY)


def version_numbers(checkpoint_directory):
    """Published version numbers, ascending (empty when none)."""
    try:
        names = os.listdir(versions_directory(checkpoint_directory))
    except FileNotFoundError:
        return []
    return sorted(int(match.group(1)) for match in map(_MANIFEST_NAME.match, names) if match)


def read_version(checkpoint_directory, version):
    """The manifest of ``version`` as a dict; ValueError naming the file when it is not one."""
    path = os.path.join(versions_directory(checkpoint_directory), f"{version:09d}.json")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        manifest = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path} is not a model version manifest: {error}") from None
    problems = []
    if not isinstance(manifest, dict) or manifest.get("specificationVersion") != "v1":
        problems.append("specificationVersion: must be 'v1'")
    else:
        if manifest.get("version") != version:
            problems.append(f"version: {manifest.get('version')!r} in a file named for {version}")
        for field in ("path", "format"):
            if not isinstance(manifest.get(field), str) or not manifest[field]:
                problems.append(f"{field}: must be a non-empty string")
        if not isinstance(manifest.get("step"), int) or manifest["step"] < 0:
            problems.append("step: must be a non-negative integer")
    if problems:
        raise ValueError(f"{path} is not a model version manifest: {'; '.join(problems)}")
    return manifest


def publish_version(checkpoint_directory, path, step, *, format=TORCH_STATE_DICT_FORMAT, input_position=None, metrics=None):
    """Publishes the next version of the model at ``path`` (complete before this call); returns its manifest."""
    directory = versions_directory(checkpoint_directory)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temporary = os.path.join(directory, f".publish-{os.getpid()}-{secrets.token_hex(6)}.tmp")
    try:
        numbers = version_numbers(checkpoint_directory)
        version = (numbers[-1] if numbers else 0) + 1
        while True:
            manifest = {
                "specificationVersion": "v1",
                "version": version,
                "path": os.path.abspath(path),
                "format": format,
                "step": int(step),
            }
            if input_position:
                manifest["inputPosition"] = {str(key): int(value) for key, value in input_position.items()}
            if metrics:
                manifest["metrics"] = {str(key): float(value) for key, value in metrics.items()}
            manifest["publishedAt"] = (
                datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(manifest, handle)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, os.path.join(directory, f"{version:09d}.json"))
                return manifest
            except FileExistsError:
                version += 1  # another publisher took this number
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def parse_policy(text):
    """``latest`` → 1, ``every:N`` → N (serve one version in N)."""
    text = (text or "latest").strip()
    if text == "latest":
        return 1
    match = re.fullmatch(r"every:(\d+)", text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"follow policy must be 'latest' or 'every:N' with N a positive integer, got {text!r}")
    return int(match.group(1))


class VersionFollower:
    """Follows ``directory``'s published versions for a torch model.

    ``model`` is the serving model (the factory's); each version's state dict is loaded into a deep
    copy of it, strictly, so a version with other layers or shapes is ``incompatible``. ``gate``,
    when given, is called as ``gate(candidate_manifest, serving_manifest_or_None)`` and serves the
    version only when it returns true (manifests carry the publisher's held-out ``metrics``).
    """

    def __init__(self, directory, model, *, every=1, gate=None, poll_seconds=0.1, map_location="cpu"):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.directory = directory
        self.every = every
        self.gate = gate
        self.poll_seconds = poll_seconds
        self.map_location = map_location
        self.serving_model = model
        self.serving_version = None
        self.refused = []
        self.swaps = 0
        self._template = model
        self._ready = None  # (manifest, model)
        self._newest_considered = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._poll, name="millrace-version-follower", daemon=True)
        self._thread.start()
        return self

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            self._ready = None
            self._changed.notify_all()

    def take(self):
        """Between two batches: makes the newest accepted version the serving one; True when it swapped."""
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is None:
            return False
        self.serving_version, self.serving_model = ready
        self.swaps += 1
        return True

    def wait_until_considered(self, version, timeout):
        """Blocks until ``version`` (or a newer one) was loaded and accepted or refused; False after ``timeout``."""
        with self._lock:
            return self._changed.wait_for(lambda: self._newest_seen >= version and self._busy is None, timeout)

    def wait_for_ready(self, timeout):
        """Blocks until a version is ready to take; False after ``timeout`` seconds."""
        with self._lock:
            return self._changed.wait_for(lambda: self._ready is not None or self._stop.is_set(), timeout)

    _busy = None  # the version being loaded, for wait_until_considered
    _newest_seen = 0  # the newest version polled, loaded or skipped by the policy

    def _poll(self):
        while not self._stop.is_set():
            try:
                numbers = version_numbers(self.directory)
                newest = numbers[-1] if numbers else None
                if newest is not None and newest > self._newest_considered and self._due(newest):
                    with self._lock:
                        self._busy = newest
                    try:
                        self._consider(newest)
                    finally:
                        with self._lock:
                            self._newest_considered = newest
                            self._busy = None
                            self._changed.notify_all()
                if newest is not None and newest > self._newest_seen:
                    with self._lock:
                        self._newest_seen = newest
                        self._changed.notify_all()
            except OSError as error:
                sys.stderr.write(f"millrace_torch: cannot read the published model versions in {self.directory}: {error}\n")
            self._stop.wait(self.poll_seconds)

    def _due(self, version):
        with self._lock:
            base = self._ready[0] if self._ready is not None else self.serving_version
        return base is None or version >= base["version"] + self.every

    def _refuse(self, version, path, reason, message):
        error = ModelVersionRejectedError(version, path, reason, message)
        sys.stderr.write(f"millrace_torch: {error}\n")
        with self._lock:
            self.refused.append(error)

    def _consider(self, number):
        import torch

        from millrace_torch.checkpoint import _load_weights

        try:
            manifest = read_version(self.directory, number)
        except (OSError, ValueError) as error:
            self._refuse(number, self.directory, "unreadable", str(error))
            return
        path = manifest["path"]
        if manifest["format"] != TORCH_STATE_DICT_FORMAT:
            self._refuse(
                number, path, "unreadable",
                f"it is stored as '{manifest['format']}'; the torch prediction runner serves '{TORCH_STATE_DICT_FORMAT}' versions",
            )
            return
        try:
            state = _load_weights(path, self.map_location)
            if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
                state = state["model"]  # a whole checkpoint (model + optimizer + step)
        except Exception as error:  # noqa: BLE001 - any load failure refuses the version
            self._refuse(number, path, "unreadable", f"{type(error).__name__}: {error}")
            return
        candidate = copy.deepcopy(self._template)
        try:
            candidate.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError, TypeError) as error:
            first = str(error).strip().splitlines()
            self._refuse(number, path, "incompatible", " ".join(line.strip() for line in first[:4]))
            return
        if isinstance(candidate, torch.nn.Module):
            candidate.eval()
        if self.gate is not None:
            with self._lock:
                serving = self._ready[0] if self._ready is not None else self.serving_version
            try:
                accepted = bool(self.gate(manifest, serving))
            except Exception as error:  # noqa: BLE001 - a failing gate refuses, it does not stop serving
                self._refuse(number, path, "gate-rejected", f"the gate raised {type(error).__name__}: {error}")
                return
            if not accepted:
                self._refuse(number, path, "gate-rejected", "the gate did not accept it")
                return
        with self._lock:
            self._ready = (manifest, candidate)  # supersedes a version loaded but never served
            self._changed.notify_all()
