"""A t3w script on unitrain: only the import line changed (``import t3w`` →
``from unitrain.compat import t3w``).

Trains a small MLP on generated two-moons-like points with t3w's typed contract, a
TrainLoop with a nested EvalLoop, progress bars, LR warm-up and best-2 checkpoints.

    python examples/t3w_style/train.py --epochs 8 --out /tmp/t3w-run
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from unitrain.compat import t3w


class Point(t3w.IDatum):
    train_batch_size = 32
    val_batch_size = 64

    def __init__(self, xy: torch.Tensor, label: int, index: int) -> None:
        self.xy, self.label, self.uuid = xy, label, index

    @staticmethod
    def collate(data: Sequence[t3w.IDatum]) -> t3w.IMiniBatch:
        points = [d for d in data if isinstance(d, Point)]
        xy, label = torch.stack([p.xy for p in points]), torch.tensor([p.label for p in points])
        return Points(len(points), xy, label)


class Points(t3w.IMiniBatch):
    def __init__(self, batch_size: int, xy: torch.Tensor, label: torch.Tensor) -> None:
        self.batch_size = batch_size  # as t3w minibatches do: all samples real
        self.xy, self.label = xy, label
        self.logits: torch.Tensor | None = None


class Moons(t3w.IDataset):
    """Two interleaved half circles with noise, generated from ``seed``."""

    datum_type = Point

    def __init__(self, root: str = "", split: str | None = None, size: int = 512) -> None:
        super().__init__(root, split)
        generator = torch.Generator().manual_seed(0 if split == "train" else 1)
        angle = torch.rand(size, generator=generator) * math.pi
        label = torch.randint(0, 2, (size,), generator=generator)
        x = torch.where(label == 0, torch.cos(angle), 1 - torch.cos(angle))
        y = torch.where(label == 0, torch.sin(angle), 0.5 - torch.sin(angle))
        noise = 0.1 * torch.randn(size, 2, generator=generator)
        self.xy, self.label = torch.stack([x, y], dim=1) + noise, label

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, index: int) -> Point:
        return Point(self.xy[index], int(self.label[index]), index)


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))

    def forward(self, mb: Points) -> None:
        mb.logits = self.net(mb.xy)


class CrossEntropy(t3w.ILoss):
    def forward(self, mb: Points) -> torch.Tensor:
        assert mb.logits is not None
        return nn.functional.cross_entropy(mb.logits, mb.label, reduction="none")


class Accuracy(t3w.IMiniBatchMetric):
    higher_better = True

    def forward(self, mb: Points) -> torch.Tensor:
        assert mb.logits is not None
        return (mb.logits.argmax(dim=1) == mb.label).float()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("t3w-run"))
    parser.add_argument("--plain", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    t3w.manual_seed(0)
    model = Classifier()
    optim = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optim, step_size=4, gamma=0.5)
    module = t3w.TopLevelModule(model, optim, scheduler).to("cpu")

    side_effects: list[t3w.ISideEffect] = [] if args.plain else [t3w.TqdmSideEffect(["ce"])]
    side_effects += [
        t3w.WarmUpSideEffect(num_steps=8),
        t3w.SaveBestModelsSideEffect("acc", 2, str(args.out / "moons")),
    ]
    evaluation = t3w.EvalLoop(
        Moons(split="val", size=256),
        module,
        metrics={"acc": t3w.AverageMetric(Accuracy())},
        side_effects=side_effects,
    )
    loop = t3w.TrainLoop(
        Moons(split="train"),
        module,
        losses={"ce": CrossEntropy()},
        metrics={"acc": Accuracy(), "lr": t3w.LearningRate()},
        epochs=args.epochs,
        eval_loop=evaluation,
        side_effects=side_effects,
    )
    loop()
    print(f"val accuracy after {args.epochs} epochs: {evaluation.metric_values['acc']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
