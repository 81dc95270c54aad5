"""A PytorchTask script on unitrain, plus one fit that mixes three plugin styles.

The task is written against the seed's API (only the import changed): the user code
(``get_*``), an ``epoch`` override that validates every epoch, and the seed's command line
(``train`` / ``test`` / ``eval``) storing snapshots in unitrain's run store. Its fit also
carries a t3w side effect and a native unitrain plugin, all in the one hook order.

    python examples/pytorch_task_style/train.py train --root /tmp/runs
    python examples/pytorch_task_style/train.py test --root /tmp/runs  # --ignore: dirty tree
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import nn

import unitrain as ut
from unitrain.compat import t3w
from unitrain.compat.pytorch_task import PytorchTask


def blobs(count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` batches of 32 points from three Gaussian blobs (labels 0, 1, 2)."""
    generator = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    label = torch.randint(0, 3, (count * 32,), generator=generator)
    x = centers[label] + 0.8 * torch.randn(count * 32, 2, generator=generator)
    return [(x[i : i + 32], label[i : i + 32]) for i in range(0, count * 32, 32)]


class BlobsTask(PytorchTask):
    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__(nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3)))
        self.device = "cpu"
        self.epochs = 5

    # user code, as in the seed
    def get_training_data(self) -> Any:
        return blobs(16, seed=0)

    def get_testing_data(self) -> Any:
        return blobs(4, seed=1)

    def get_criterion(self) -> Any:
        return nn.CrossEntropyLoss()

    def get_optimizer(self) -> Any:
        return torch.optim.Adam(self.model.parameters(), lr=0.02)

    def get_metric(self) -> Any:
        return lambda output, label: (output.argmax(dim=1) == label).float().mean()

    def epoch(self, dataset: Any) -> None:
        super().epoch(dataset)
        self.every_n_epochs(1, self.validate, skip_zero=False)


class LossEcho(t3w.ISideEffect):
    """A t3w side effect: prints the last step's loss at the end of each epoch."""

    def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
        self.last = step_return["metrics"]["loss"]

    def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
        print(f"[t3w side effect] epoch {epoch}: last step loss {float(self.last):.4f}")


class ValReport:
    """A native unitrain plugin: reports the validation accuracy the task's epoch() made."""

    def on_epoch_end(self, state: ut.State) -> None:
        accuracy = state.eval_metrics["val"]["loss"]  # the seed names its metric 'loss'
        print(f"[native plugin] epoch {state.epoch}: val accuracy {accuracy:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs", help="where the run store keeps snapshots")
    args, rest = parser.parse_known_args(argv)
    task = BlobsTask()
    task.plugins = [LossEcho(), ValReport()]
    return task.main(rest or ["train"], root=args.root, experiment="blobs")


if __name__ == "__main__":
    raise SystemExit(main())
