"""aitoolbox-style training on the unitrain engine, on generated data.

The script is written against aitoolbox's API; only the import line differs
(``from aitoolbox.torchtrain... import ...`` → ``from unitrain.compat.aitoolbox import ...``).
It also hands a native unitrain plugin and a t3w side effect to the same ``fit``: all of
them run in the one order (``execution_order`` is the unitrain ``order``).

    python examples/aitoolbox_style/train.py --epochs 20 --out /tmp/aitoolbox_run
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

import unitrain as ut
from unitrain.compat import t3w
from unitrain.compat.aitoolbox import (
    ClassificationResultPackage,
    EarlyStopping,
    GradNormClip,
    ModelPerformanceEvaluation,
    ModelPerformancePrintReport,
    StepLRScheduler,
    TrainLoopCheckpointEndSave,
    TTModel,
)


class Classifier(TTModel):
    """A small MLP in aitoolbox's TTModel contract."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)

    def get_loss(self, batch_data: Any, criterion: Any, device: torch.device) -> torch.Tensor:
        inputs, targets = batch_data
        return criterion(self(inputs.to(device)), targets.to(device))

    def get_predictions(self, batch_data: Any, device: torch.device) -> Any:
        inputs, targets = batch_data
        return self(inputs.to(device)).argmax(dim=1).cpu(), targets, None


def make_data(samples: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Three Gaussian blobs in 8 dimensions, in batches of 32."""
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(3, 8, generator=torch.Generator().manual_seed(0)) * 2.0
    targets = torch.randint(0, 3, (samples,), generator=generator)
    inputs = centers[targets] + torch.randn(samples, 8, generator=generator)
    return [(inputs[i : i + 32], targets[i : i + 32]) for i in range(0, samples, 32)]


class LogEpoch:
    """A native unitrain plugin: runs at order 0, before the early stopper (order 99)."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_epoch_end(self, state: ut.State) -> None:
        self.epochs.append(state.epoch)


class CountSteps(t3w.ISideEffect):
    """A t3w side effect in the same fit."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
        self.steps += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="experiment root (default: temp)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="aitoolbox_style_"))
    torch.manual_seed(0)
    model = Classifier()
    loop = TrainLoopCheckpointEndSave(
        model,
        make_data(512, seed=1),
        make_data(128, seed=2),
        make_data(128, seed=3),
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        nn.CrossEntropyLoss(),
        project_name="blobs",
        experiment_name="mlp",
        local_model_result_folder_path=str(out),
        hyperparams={"lr": 0.1, "batch_size": 32},
        val_result_package=ClassificationResultPackage(),
        rm_subopt_local_models=True,
        num_best_checkpoints_kept=2,
        device="cpu",
    )
    native, side_effect = LogEpoch(), CountSteps()
    loop.fit(
        num_epochs=args.epochs,
        callbacks=[
            ModelPerformanceEvaluation(ClassificationResultPackage(), on_val_data=True),
            ModelPerformancePrintReport(["val_Accuracy"]),
            EarlyStopping("val_loss", patience=2),
            GradNormClip(1.0),
            StepLRScheduler(step_size=5, gamma=0.5),
            native,
            side_effect,
        ],
    )
    accuracy = loop.train_history["val_Accuracy"][-1]
    summary = {
        "epochs": loop.epoch,
        "val_accuracy": accuracy,
        "val_loss": loop.train_history["val_loss"][-1],
        "t3w_steps": side_effect.steps,
        "native_epochs": len(native.epochs),
        "experiment_dir": str(out / "blobs" / f"mlp_{loop.experiment_timestamp}"),
    }
    print(json.dumps(summary, indent=2))
    return 0 if accuracy > 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
