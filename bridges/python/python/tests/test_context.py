import json
import os
import socket
import threading
import time
import unittest

from millrace import NotUnderMillraceError, context_from_environment


def environment(**extra):
    base = {
        "MILLRACE_JOB_NAME": "job",
        "MILLRACE_ROLE": "worker",
        "MILLRACE_INDEX": "2",
        "MILLRACE_GENERATION": "3",
        "MILLRACE_ATTEMPT": "1",
        "MILLRACE_CHECKPOINT_DIR": "/tmp/ckpt",
        "MILLRACE_CLUSTER_SPEC": json.dumps(
            {"jobName": "job", "generation": 3, "roles": {"worker": [{"role": "worker", "index": 0, "host": "h", "ports": {}}]}}
        ),
    }
    base.update(extra)
    return base


class ContextTest(unittest.TestCase):
    def test_outside_millrace_the_error_says_how_to_start(self):
        with self.assertRaisesRegex(NotUnderMillraceError, "pythonRunner"):
            context_from_environment({})

    def test_reads_identity_and_cluster_spec_from_the_environment(self):
        ctx = context_from_environment(environment())
        self.assertEqual((ctx.job_name, ctx.role, ctx.index, ctx.generation, ctx.attempt), ("job", "worker", 2, 3, 1))
        self.assertEqual(ctx.checkpoint_dir, "/tmp/ckpt")
        self.assertEqual(ctx.nodes("worker")[0]["host"], "h")
        self.assertEqual(ctx.nodes("ps"), [])
        self.assertIsNone(ctx.input)
        self.assertFalse(ctx.stopping)

    def test_report_rejects_non_numbers_naming_the_metric(self):
        ctx = context_from_environment(environment())
        with self.assertRaisesRegex(ValueError, "metric 'loss' must be a number"):
            ctx.report(loss="high")
        with self.assertRaisesRegex(ValueError, "metric 'loss' must be finite"):
            ctx.report(loss=float("nan"))

    def test_control_channel_carries_metrics_out_and_stop_requests_in(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        ctx = context_from_environment(
            environment(MILLRACE_CONTROL_FD=str(theirs.fileno()), MILLRACE_RESUME_POSITION="1500")
        )
        ctx.report(loss=0.25, step=10)
        lines = ours.makefile("rb")
        self.assertEqual(json.loads(lines.readline()), {"type": "metrics", "values": {"loss": 0.25, "step": 10}})
        # A checkpoint acknowledgement names the input position it covers.
        self.assertEqual((ctx.resume_position, ctx.position), (1500, 1500))
        ctx.checkpointed(2048)
        self.assertEqual(json.loads(lines.readline()), {"type": "checkpointed", "position": 2048})
        with self.assertRaisesRegex(ValueError, "position must be a non-negative integer"):
            ctx.checkpointed(-1)

        ours.sendall(b'{"type":"stop","reason":"job stopped"}\n')
        self.assertTrue(ctx.wait_for_stop(5))
        self.assertTrue(ctx.stopping)
        self.assertEqual(ctx.stop_reason, "job stopped")
