"""The click model: a small MLP over the 8 engineered features, trained on logits.

``probability_model`` wraps it with a sigmoid: that is what gets exported to ONNX and what the
prediction role serves, so every prediction path answers "probability of a click".
"""

import os

import torch

FEATURES = 8


class ClickModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(FEATURES, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))

    def forward(self, features):
        return self.layers(features).squeeze(-1)


def probability_model(model):
    return torch.nn.Sequential(model, torch.nn.Sigmoid()).eval()


def load_trained(ctx):
    """Model factory for the prediction role: the trained weights from the job's checkpoint."""
    from millrace_torch import load_checkpoint

    model = ClickModel()
    step, _ = load_checkpoint(model, directory=os.environ.get("CLICK_MODEL_DIR", ctx.checkpoint_dir))
    if step == 0:
        raise FileNotFoundError("no trained checkpoint found: run the training job first")
    return probability_model(model)
