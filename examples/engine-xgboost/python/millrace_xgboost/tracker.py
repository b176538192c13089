"""The rabit tracker of one XGBoost cluster, as a Millrace serving node.

`python3 -m xgboost.tracker` picks its own port; a Millrace node must listen on the port the cluster
spec published (the workers were told that one), so this starts xgboost's RabitTracker on
DMLC_TRACKER_URI:DMLC_TRACKER_PORT for DMLC_NUM_WORKER workers. It prints the workers' environment
between DMLC_TRACKER_ENV_START and DMLC_TRACKER_ENV_END as xgboost's own tracker does, and keeps
serving until the node is stopped: Millrace stops serving roles when the workers have finished.
"""
import os
import signal
import sys
import time

from xgboost.tracker import RabitTracker


def main() -> int:
    host = os.environ["DMLC_TRACKER_URI"]
    port = int(os.environ["DMLC_TRACKER_PORT"])
    workers = int(os.environ["DMLC_NUM_WORKER"])
    tracker = RabitTracker(host_ip=host, n_workers=workers, port=port)
    tracker.start(workers)
    print("DMLC_TRACKER_ENV_START")
    for key, value in {"DMLC_NUM_WORKER": workers, **tracker.worker_envs()}.items():
        print(f"{key}={value}")
    print("DMLC_TRACKER_ENV_END", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # The tracker thread ends once every worker has shut down; a serving node keeps running until
    # Millrace stops it (the job's end, or a restart of the whole cluster).
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
