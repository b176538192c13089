import os
import shutil
import tempfile
import unittest

from tests.support import HAVE_TORCH, requires_torch

if HAVE_TORCH:
    import torch

    from millrace_torch import checkpoint_path, load_checkpoint, save_checkpoint


def _model_and_optimizer(seed):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


@requires_torch
class CheckpointTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="millrace-ckpt-test-")

    def tearDown(self):
        shutil.rmtree(self.directory)

    def test_a_planted_pickle_does_not_run_code_when_loaded(self):
        # A checkpoint is a pickle: loading one someone else wrote used to run their code as us.
        marker = os.path.join(self.directory, "planted-code-ran")

        class Planted:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))

        # The float first: torch 1.13 falls back to the allow-list reader, which must refuse too.
        torch.save({"step": 1.5, "model": Planted()}, checkpoint_path(self.directory))
        model, optimizer = _model_and_optimizer(4)
        with self.assertRaises(Exception) as raised:
            load_checkpoint(model, optimizer, directory=self.directory)
        self.assertIn("system", str(raised.exception))
        self.assertFalse(os.path.exists(marker))

    @unittest.skipUnless(os.getuid() == 0, "needs root to create a folder owned by another user")
    def test_a_checkpoint_folder_owned_by_another_user_is_refused(self):
        foreign = os.path.join(self.directory, "foreign")
        os.mkdir(foreign)
        os.chown(foreign, 65534, 65534)  # nobody
        try:
            model, optimizer = _model_and_optimizer(5)
            with self.assertRaises(PermissionError) as raised:
                load_checkpoint(model, optimizer, directory=foreign)
            self.assertIn("belongs to uid 65534", str(raised.exception))
        finally:
            os.rmdir(foreign)

    def test_starts_from_zero_when_there_is_no_checkpoint(self):
        model, optimizer = _model_and_optimizer(0)
        self.assertEqual(load_checkpoint(model, optimizer, directory=self.directory), (0, {}))

    def test_round_trips_model_optimizer_step_and_extra(self):
        model, optimizer = _model_and_optimizer(1)
        save_checkpoint(model, optimizer, 42, directory=self.directory, extra={"loss": 0.5})
        restored, restored_optimizer = _model_and_optimizer(2)
        step, extra = load_checkpoint(restored, restored_optimizer, directory=self.directory)
        self.assertEqual((step, extra), (42, {"loss": 0.5}))
        self.assertTrue(torch.equal(restored.weight, model.weight))
        self.assertEqual(
            restored_optimizer.state_dict()["state"][0]["step"], optimizer.state_dict()["state"][0]["step"]
        )

    def test_a_failed_save_leaves_the_previous_checkpoint_and_no_temporary_file(self):
        model, optimizer = _model_and_optimizer(3)
        save_checkpoint(model, optimizer, 7, directory=self.directory)
        with self.assertRaises(Exception):
            # A lambda cannot be pickled: torch.save fails halfway through writing.
            save_checkpoint(model, optimizer, 8, directory=self.directory, extra={"bad": lambda: 0})
        # No temporary file, and the failed save published no model version.
        self.assertEqual(sorted(os.listdir(self.directory)), ["checkpoint.pt", "published", "versions"])
        self.assertEqual(os.listdir(os.path.join(self.directory, "versions")), ["000000001.json"])
        self.assertEqual(load_checkpoint(model, optimizer, directory=self.directory)[0], 7)

    def test_uses_the_millrace_checkpoint_directory_from_the_environment(self):
        previous = os.environ.get("MILLRACE_CHECKPOINT_DIR")
        os.environ["MILLRACE_CHECKPOINT_DIR"] = self.directory
        try:
            self.assertEqual(checkpoint_path(), os.path.join(self.directory, "checkpoint.pt"))
        finally:
            if previous is None:
                del os.environ["MILLRACE_CHECKPOINT_DIR"]
            else:
                os.environ["MILLRACE_CHECKPOINT_DIR"] = previous

    def test_only_rank_zero_writes_by_default(self):
        model, optimizer = _model_and_optimizer(4)
        previous = os.environ.get("RANK")
        os.environ["RANK"] = "1"
        try:
            self.assertIsNone(save_checkpoint(model, optimizer, 1, directory=self.directory))
            self.assertEqual(os.listdir(self.directory), [])
        finally:
            if previous is None:
                del os.environ["RANK"]
            else:
                os.environ["RANK"] = previous


if __name__ == "__main__":
    unittest.main()
