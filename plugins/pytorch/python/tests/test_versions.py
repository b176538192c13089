import json
import os
import shutil
import tempfile
import unittest

from tests.support import HAVE_TORCH, requires_torch

if HAVE_TORCH:
    import numpy as np
    import torch

    from millrace_torch.checkpoint import KEEP_PUBLISHED, _load_weights, save_checkpoint
    from millrace_torch.predict import serve_frames
    from millrace_torch.versions import VersionFollower, publish_version, read_version, version_numbers


def linear(weights, bias):
    model = torch.nn.Linear(len(weights), 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([weights]))
        model.bias.copy_(torch.tensor([bias]))
    return model


def features_of(record_id):
    return np.array([np.sin(record_id), np.cos(record_id / 3), (record_id % 7) / 7, 0.5], np.float32)


class PublishingInput:
    """An input stream of frames that, before handing out batch k, runs ``actions[k]`` (publish a
    version and wait until the follower has loaded or refused it): versions arrive mid-stream."""

    def __init__(self, count, actions, chunk=10):
        self.next = 0
        self.count = count
        self.actions = actions
        self.chunk = chunk
        self.reads = 0

    def read_batch(self, max_records=1024, timeout=None):
        action = self.actions.get(self.reads)
        if action is not None:
            action()
        self.reads += 1
        if self.next >= self.count:
            return None
        taken = range(self.next, min(self.count, self.next + min(max_records, self.chunk)))
        self.next = taken.stop
        return [{"id": np.array(i, np.int64), "features": features_of(i)} for i in taken]


class Output:
    def __init__(self):
        self.records = []

    def write_batch(self, records):
        self.records.extend(records)


class Context:
    def __init__(self, input):
        self.input = input
        self.output = Output()
        self.metrics = {}

    def report(self, **metrics):
        self.metrics.update(metrics)


@requires_torch
class PublishingTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="millrace-versions-")

    def tearDown(self):
        shutil.rmtree(self.directory, ignore_errors=True)

    def test_each_checkpoint_is_a_version_with_its_step_position_and_metrics(self):
        model = linear([1.0, 2.0, 3.0, 4.0], 0.5)
        for step in range(1, 6):
            save_checkpoint(model, step=step * 10, directory=self.directory, position=step * 100, metrics={"eval_loss": 1 / step})
        self.assertEqual(version_numbers(self.directory), [1, 2, 3, 4, 5])
        manifest = read_version(self.directory, 5)
        self.assertEqual(manifest["specificationVersion"], "v1")
        self.assertEqual(manifest["format"], "torch-state-dict")
        self.assertEqual(manifest["step"], 50)
        self.assertEqual(manifest["inputPosition"], {"worker-0": 500})
        self.assertAlmostEqual(manifest["metrics"]["eval_loss"], 0.2)
        # The version's file is that checkpoint, even after checkpoint.pt was replaced.
        state = _load_weights(manifest["path"], "cpu")
        self.assertEqual(state["step"], 50)
        published = os.listdir(os.path.join(self.directory, "published"))
        self.assertEqual(len(published), KEEP_PUBLISHED)
        self.assertFalse([name for name in os.listdir(os.path.join(self.directory, "versions")) if name.endswith(".tmp")])

    def test_a_manifest_reads_as_core_writes_it(self):
        manifest = publish_version(self.directory, "/models/a.onnx", 3, format="onnx", input_position={"worker-1": 7})
        with open(os.path.join(self.directory, "versions", "000000001.json"), encoding="utf-8") as handle:
            on_disk = json.load(handle)
        self.assertEqual(on_disk, manifest)
        self.assertEqual(
            sorted(on_disk), ["format", "inputPosition", "path", "publishedAt", "specificationVersion", "step", "version"]
        )
        self.assertTrue(on_disk["publishedAt"].endswith("Z"))


@requires_torch
class FollowingTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="millrace-follow-")

    def tearDown(self):
        shutil.rmtree(self.directory, ignore_errors=True)

    def test_versions_swap_between_batches_each_record_once_and_bad_versions_are_refused(self):
        weights = {
            1: ([1.0, -2.0, 0.5, 3.0], 0.25),
            2: ([-1.0, 1.0, 2.0, -0.5], -0.1),
            5: ([0.2, 0.4, -3.0, 1.0], 0.7),
        }
        starting = linear([0.0, 0.0, 0.0, 0.0], 0.0)
        follower = VersionFollower(self.directory, starting, poll_seconds=0.02).start()
        self.addCleanup(follower.close)

        def publish(version, write):
            def action():
                write()
                self.assertTrue(follower.wait_until_considered(version, 30), f"version {version} was not considered")
            return action

        corrupt = os.path.join(self.directory, "corrupt.pt")

        def write_corrupt():
            with open(corrupt, "wb") as handle:
                handle.write(b"PK\x03\x04 not a checkpoint")
            publish_version(self.directory, corrupt, 30)

        actions = {
            3: publish(1, lambda: save_checkpoint(linear(*weights[1]), step=10, directory=self.directory)),
            6: publish(2, lambda: save_checkpoint(linear(*weights[2]), step=20, directory=self.directory)),
            9: publish(3, write_corrupt),
            12: publish(4, lambda: save_checkpoint(linear([1.0] * 5, 0.0), step=40, directory=self.directory)),
            15: publish(5, lambda: save_checkpoint(linear(*weights[5]), step=50, directory=self.directory)),
        }
        ctx = Context(PublishingInput(200, actions))
        predicted = serve_frames(ctx, starting, batch_size=10, follower=follower)

        records = ctx.output.records
        self.assertEqual(predicted, 200)
        self.assertEqual([record["id"] for record in records], list(range(200)))  # each once, in order
        versions = [record["model_version"] for record in records]
        served = [0 if version is None else version for version in versions]
        self.assertEqual(served, sorted(served))  # versions only grow
        self.assertEqual(set(versions), {None, 1, 2, 5})  # only published, accepted versions
        for record in records:
            version = record["model_version"]
            w, b = weights[version] if version is not None else ([0.0] * 4, 0.0)
            expected = float(np.dot(features_of(record["id"]), np.array(w, np.float32)) + b)
            self.assertAlmostEqual(record["prediction"][0], expected, places=5)
        self.assertEqual([(error.version, error.reason) for error in follower.refused], [(3, "unreadable"), (4, "incompatible")])
        self.assertIn("size mismatch", str(follower.refused[1]))
        self.assertIn("the previous version keeps serving", str(follower.refused[0]))
        self.assertEqual(ctx.metrics, {"model_swaps": 3, "model_versions_refused": 2, "model_version": 5})

    def test_every_n_and_the_gate_decide_which_versions_serve(self):
        model = linear([0.0] * 4, 0.0)
        seen = []

        def gate(candidate, serving):
            seen.append((candidate["version"], None if serving is None else serving["version"]))
            return candidate["metrics"]["eval_loss"] < 0.5

        follower = VersionFollower(self.directory, model, every=2, gate=gate, poll_seconds=0.02).start()
        self.addCleanup(follower.close)
        losses = {1: 0.4, 2: 0.3, 3: 0.9, 4: 0.2, 5: 0.1}
        taken = []
        for version, loss in losses.items():
            save_checkpoint(linear([float(version)] * 4, 0.0), step=version, directory=self.directory, metrics={"eval_loss": loss})
            self.assertTrue(follower.wait_until_considered(version, 30))
            if follower.take():
                taken.append(follower.serving_version["version"])
        # 1 (the first), 2 skipped (not two past 1), 3 gate-rejected, 4 served (two or more past 1), 5 skipped.
        self.assertEqual(taken, [1, 4])
        self.assertEqual(seen, [(1, None), (3, 1), (4, 1)])
        self.assertEqual([(error.version, error.reason) for error in follower.refused], [(3, "gate-rejected")])
        self.assertEqual(follower.serving_model.weight.tolist(), [[4.0] * 4])


if __name__ == "__main__":
    unittest.main()
