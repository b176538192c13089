"""The bootstrap as the runner host uses it: a real child interpreter with a control socket on fd 3."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Child:
    def __init__(self, test, code, mode="--entry", target=None, extra_args=(), env=None, extra_fds=()):
        directory = tempfile.mkdtemp(prefix="millrace-bootstrap-")
        # The folder went with nothing: every run left one behind in the temporary directory.
        test.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "user_code.py")
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(code))
        self.ours, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=PYTHON_ROOT, MILLRACE_ROLE="worker", MILLRACE_INDEX="0",
                   MILLRACE_CONTROL_FD=str(theirs.fileno()), MILLRACE_HEARTBEAT_MS="50", **(env or {}))
        argument = path if mode == "--script" else f"{path}:{target or 'main'}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "millrace", mode, argument, *extra_args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(theirs.fileno(), *extra_fds),
        )
        theirs.close()
        self.ours.settimeout(20)  # a broken bootstrap fails the test instead of hanging it
        self.reader = self.ours.makefile("rb")
        test.addCleanup(self.cleanup)

    def messages_until(self, kind, limit=100):
        seen = []
        for _ in range(limit):
            line = self.reader.readline()
            if not line:
                break
            message = json.loads(line)
            seen.append(message)
            if message["type"] == kind:
                return seen
        raise AssertionError(f"no {kind!r} message; got {seen}")

    def finish(self):
        out, err = self.process.communicate(timeout=20)
        return self.process.returncode, out.decode(), err.decode()

    def cleanup(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.reader.close()
        self.ours.close()


# Reads 1 MiB records in batches of eight, as a runner reading tensor frames does, and prints the
# page faults that took: about 40,000 when every batch lands on fresh pages, 2,000 when reused.
CHURN_RECORDS = """
    import resource
    def main(ctx):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(20):
            batch = [b"\\1" * (1 << 20) for _ in range(8)]
            del batch
        print("faults", resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


class BootstrapTest(unittest.TestCase):
    def churn_faults(self, env=None):
        # The policy comes with an input: give the runner one, a pipe that ends at once.
        read_end, write_end = os.pipe()
        os.close(write_end)
        self.addCleanup(os.close, read_end)
        child = Child(self, CHURN_RECORDS, env={"MILLRACE_INPUT_FD": str(read_end), **(env or {})},
                      extra_fds=(read_end,))
        code, out, err = child.finish()
        self.assertEqual(code, 0, err)
        return int(out.split("faults")[1])

    def test_a_runner_with_input_reuses_the_memory_of_records_it_dropped(self):
        # 160 MiB of records pass; with freed memory kept, fewer than a fifth of their pages fault.
        self.assertLess(self.churn_faults(), 8_000)

    def test_a_malloc_setting_of_the_user_wins_over_the_runners(self):
        faults = self.churn_faults({"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"})
        self.assertGreater(faults, 30_000)

    def test_entry_gets_the_context_and_reports_ready_then_exits_zero(self):
        child = Child(self, """
            def main(ctx):
                print("hello from", ctx.role, ctx.index)
                ctx.report(step=1)
        """)
        kinds = [m["type"] for m in child.messages_until("metrics")]
        self.assertIn("ready", kinds)
        code, out, _ = child.finish()
        self.assertEqual(code, 0)
        self.assertIn("hello from worker 0", out)

    def test_uncaught_exception_sends_its_traceback_and_exits_one(self):
        child = Child(self, """
            def helper():
                raise ValueError("bad batch 7")
            def main(ctx):
                helper()
        """)
        error = child.messages_until("error")[-1]
        self.assertEqual(error["exception"], "ValueError")
        self.assertEqual(error["message"], "bad batch 7")
        self.assertIn("in helper", error["traceback"])
        code, _, err = child.finish()
        self.assertEqual(code, 1)
        self.assertIn("ValueError: bad batch 7", err)

    def test_heartbeats_flow_while_user_code_runs(self):
        child = Child(self, """
            import time
            def main(ctx):
                time.sleep(0.4)
        """)
        beats = [m for m in child.messages_until("ready") + child.messages_until("heartbeat") if m["type"] == "heartbeat"]
        self.assertTrue(beats)
        self.assertEqual(child.finish()[0], 0)

    def test_sigterm_sets_stopping_and_unwinds_with_status_143(self):
        child = Child(self, """
            import time
            def main(ctx):
                try:
                    ctx.report(step=0)
                    while True:
                        time.sleep(0.01)
                finally:
                    print("cleaned up, stopping =", ctx.stopping)
        """)
        child.messages_until("metrics")
        child.process.send_signal(signal.SIGTERM)
        code, out, _ = child.finish()
        self.assertEqual(code, 143)
        self.assertIn("cleaned up, stopping = True", out)

    def test_stop_request_on_the_control_channel_lets_cooperative_code_finish(self):
        child = Child(self, """
            def main(ctx):
                ctx.wait_for_stop(10)
                print("stop reason:", ctx.stop_reason)
        """)
        child.messages_until("ready")
        child.ours.sendall(b'{"type":"stop","reason":"restart"}\n')
        code, out, _ = child.finish()
        self.assertEqual(code, 0)
        self.assertIn("stop reason: restart", out)

    def test_script_mode_runs_as_main_with_its_arguments(self):
        child = Child(self, """
            import sys, millrace
            if __name__ == "__main__":
                print("args", sys.argv[1:], millrace.context().role)
                sys.exit(3)
        """, mode="--script", extra_args=("--epochs", "2"))
        code, out, _ = child.finish()
        self.assertEqual(code, 3)
        self.assertIn("args ['--epochs', '2'] worker", out)

    def test_a_missing_entry_function_is_reported_clearly(self):
        child = Child(self, "def other(ctx): pass\n", target="main")
        error = child.messages_until("error")[-1]
        self.assertIn("has no function 'main'", error["message"])
        self.assertEqual(child.finish()[0], 1)


class AgentLossTest(unittest.TestCase):
    def test_the_runner_stops_when_the_agent_end_of_the_control_socket_closes(self):
        child = Child(self, """
            import time
            def main(ctx):
                try:
                    ctx.report(up=1)
                    time.sleep(30)
                finally:
                    print("stopping because", ctx.stop_reason)
        """)
        child.messages_until("metrics")
        child.reader.close()
        child.ours.close()
        code, out, _ = child.finish()
        self.assertEqual(code, 143)
        self.assertIn("stopping because the agent's control connection closed", out)


class BrokenContextTest(unittest.TestCase):
    def test_a_context_that_cannot_be_built_still_reports_its_traceback(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        env = dict(os.environ, PYTHONPATH=PYTHON_ROOT, MILLRACE_ROLE="worker",
                   MILLRACE_CONTROL_FD=str(theirs.fileno()), MILLRACE_INPUT_RING="/nonexistent/ring.shm")
        process = subprocess.run([sys.executable, "-m", "millrace", "--entry", "x:main"], env=env,
                                 pass_fds=(theirs.fileno(),), capture_output=True, timeout=20)
        theirs.close()
        ours.settimeout(10)
        with ours.makefile("rb") as reader:
            messages = [json.loads(line) for line in reader.read().splitlines()]
        self.assertEqual(process.returncode, 1)
        self.assertEqual(messages[-1]["type"], "error")
        # Without millrace_shm on the path the ring cannot even be opened; with it, the file is missing.
        self.assertRegex(messages[-1]["traceback"], r"millrace_shm|/nonexistent/ring\.shm")
