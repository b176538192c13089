"""Shared test support: skip loudly without torch, run small multi-process groups."""

import os
import socket
import subprocess
import sys
import unittest

try:
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_TORCH = False
    sys.stderr.write(
        "\n*** millrace_torch tests SKIPPED: this Python cannot import torch. "
        "Install Debian's python3-torch (sudo apt-get install -y python3-torch) and run with /usr/bin/python3 ***\n"
    )

requires_torch = unittest.skipUnless(HAVE_TORCH, "torch is missing: sudo apt-get install -y python3-torch")

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# millrace_torch builds on the `millrace` package of @millrace/bridge-python (the runner host puts
# both on PYTHONPATH); the test runner only adds this package's directory, so add the sibling here.
BRIDGE_PYTHON = os.path.join(PYTHON_ROOT, "..", "..", "..", "bridges", "python", "python")
if os.path.isdir(BRIDGE_PYTHON) and BRIDGE_PYTHON not in sys.path:
    sys.path.append(os.path.abspath(BRIDGE_PYTHON))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_group(script, world_size, extra_env=None, timeout=60):
    """Runs ``script`` (Python source) as ``world_size`` ranks with a torchrun-style environment.

    Returns each rank's stdout, in rank order; raises with both ranks' stderr if any rank fails.
    """
    port = free_port()
    processes = []
    for rank in range(world_size):
        env = dict(os.environ)
        env.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world_size),
            LOCAL_WORLD_SIZE=str(world_size),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            MILLRACE_TORCH_BACKEND="gloo",
            OMP_NUM_THREADS="1",
            PYTHONPATH=PYTHON_ROOT,
            **(extra_env or {}),
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise AssertionError(f"rank exited with {process.returncode}:\n{stderr}")
            outputs.append(stdout)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return outputs
