"""A t3w client program in the shape of t3w's own ``examples/mnist.py``, with only its import
line changed (``from t3w import *`` → ``from unitrain.compat.t3w import *``).

Synthetic 8x8 "digits" stand in for MNIST (no download). Run as a script, one command per
process, so the tests can check what a user sees across processes::

    python client.py train OUT [--epochs N] [--save-after N] [--device cpu|cpu:2] [--warmup N]
    python client.py resume OUT CKPT --epochs N
    python client.py eval OUT CKPT [--device ...]

Each command writes ``OUT/result.pt`` (weights, progress, eval values, event counts).
"""

# ruff: noqa: F403, F405, F722, UP037 - t3w client code, written as t3w users write it
from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import StepLR

from unitrain.compat.t3w import *

CLASSES = 4


class DigitDatum(IDatum):
    train_batch_size = 8
    val_batch_size = 10
    num_workers = 0

    def __init__(self, input, gt, index=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.input = input
        self.gt = gt
        self.index = index

    @staticmethod
    def collate(data: Sequence["DigitDatum"]) -> "DigitMiniBatch":
        batch_size = len(data)
        input = torch.stack([datum.input for datum in data])
        gt = torch.tensor([datum.gt for datum in data])
        index = [datum.index for datum in data]
        return DigitMiniBatch(batch_size, input, gt, index)


class DigitMiniBatch(IMiniBatch):
    def __init__(self, batch_size, input, gt, batch_indices=None) -> None:  # type: ignore[no-untyped-def]
        self.batch_size = batch_size
        self.input: Shaped[Tensor, "_ C H W"] = input
        self.gt: Shaped[Tensor, "_"] = gt
        self.logits: Float[Tensor, "_ num_class"] = None
        self.pred: Shaped[Tensor, "_"] = None
        self.correct: Shaped[Tensor, "_"] = None
        self.batch_indices: List[int] = batch_indices


class NLLLoss(ILoss):
    def forward(self, mb: DigitMiniBatch) -> FloatScalarTensor:
        return F.nll_loss(mb.logits, mb.gt)


class MiniBatchAccuracy(IMiniBatchMetric):
    higher_better = True

    def forward(self, mb: DigitMiniBatch) -> MiniBatchFloats:
        mb.pred = mb.logits.argmax(dim=1)
        mb.correct = mb.pred.eq(mb.gt)
        return mb.correct


class DigitDataset(IDataset):
    datum_type = DigitDatum

    def __init__(self, root: str, split: str | None = None, size: int | None = None) -> None:
        super().__init__(root, split)
        size = size or (96 if split == "train" else 101)
        generator = torch.Generator().manual_seed(0 if split == "train" else 1)
        self.gt = torch.randint(0, CLASSES, (size,), generator=generator)
        centers = torch.randn(CLASSES, 1, 8, 8, generator=torch.Generator().manual_seed(7))
        noise = torch.randn(size, 1, 8, 8, generator=generator)
        self.input = centers[self.gt] + 0.7 * noise

    def __len__(self) -> int:
        return len(self.gt)

    def __getitem__(self, index: int) -> IDatum:
        return DigitDatum(self.input[index], int(self.gt[index]), index)


class BasicNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(4 * 3 * 3, 16)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(16, CLASSES)

    def forward(self, mb: DigitMiniBatch) -> None:
        x = F.relu(self.conv1(mb.input))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        x = self.dropout2(x)
        mb.logits = F.log_softmax(self.fc2(x), dim=1)

    def adam_steplr(self, lr: float = 0.01) -> TopLevelModule:
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
        return TopLevelModule(model=self, optim=optimizer, lr_scheduler=scheduler)


class EventCounter(ISideEffect):
    """Counts t3w events per process into ``OUT/events-<kind>-<pid>.txt`` (one line each)."""

    def __init__(self, out: str, is_distributed: bool) -> None:
        self.out, self.is_distributed = out, is_distributed

    def _note(self, event: str) -> None:
        import os

        kind = "all" if self.is_distributed else "main"
        with open(f"{self.out}/events-{kind}-{os.getpid()}.txt", "a") as stream:
            stream.write(event + "\n")

    def on_train_started(self, loop) -> None:  # type: ignore[no-untyped-def]
        self._note("train_started")

    def on_train_epoch_finished(self, loop, epoch) -> None:  # type: ignore[no-untyped-def]
        self._note(f"epoch_finished {epoch}")

    def on_train_step_finished(self, loop, step, mb, step_return) -> None:  # type: ignore[no-untyped-def]
        self._note("step")

    def on_eval_finished(self, loop) -> None:  # type: ignore[no-untyped-def]
        self._note(f"eval {loop.metric_values['accuracy']!r}")

    def on_train_finished(self, loop) -> None:  # type: ignore[no-untyped-def]
        self._note("train_finished")


def _result(out: str, model: TopLevelModule, values: dict[str, float]) -> None:
    progress = model.training_progress
    torch.save(
        {
            "weights": {k: v.detach().clone() for k, v in model.user_model.state_dict().items()},
            "optim": model.optim.state_dict() if model.optim is not None else None,
            "lr": [g["lr"] for g in model.optim.param_groups] if model.optim is not None else [],
            "progress": (progress.epoch, progress.step),
            "values": values,
        },
        f"{out}/result.pt",
    )


def train(args: argparse.Namespace) -> None:
    manual_seed(42, strict=True)
    model = BasicNet().adam_steplr().to(args.device)
    side_effects = [
        TqdmSideEffect(postfix_keys=["nll", "lr"]),
        SaveBestModelsSideEffect(
            metric_name="accuracy", num_max_keep=2, save_path_prefix=f"{args.out}/digits-"
        ),
        EventCounter(args.out, is_distributed=False),
        EventCounter(args.out, is_distributed=True),
    ]
    if args.warmup:
        side_effects.append(WarmUpSideEffect(args.warmup))
    eval_loop = EvalLoop(
        model=model,
        dataset=DigitDataset("./digits", "val"),
        metrics=dict(accuracy=AverageMetric(MiniBatchAccuracy())),
        side_effects=side_effects,
    )
    train_loop = TrainLoop(
        model=model,
        dataset=DigitDataset("./digits", "train"),
        losses=dict(nll=NLLLoss()),
        metrics=dict(acc=MiniBatchAccuracy(), lr=LearningRate()),
        epochs=args.save_after or args.epochs,
        eval_loop=eval_loop,
        side_effects=side_effects,
    )
    train_loop()
    if args.save_after:
        model.save(f"{args.out}/half.pt.gz")
    _result(args.out, model, eval_loop.metric_values)


def resume(args: argparse.Namespace) -> None:
    manual_seed(42, strict=True)
    model = BasicNet().adam_steplr()
    model.load(args.ckpt)
    eval_loop = EvalLoop(
        model=model,
        dataset=DigitDataset("./digits", "val"),
        metrics=dict(accuracy=AverageMetric(MiniBatchAccuracy())),
    )
    TrainLoop(
        model=model,
        dataset=DigitDataset("./digits", "train"),
        losses=dict(nll=NLLLoss()),
        metrics=dict(acc=MiniBatchAccuracy(), lr=LearningRate()),
        epochs=args.epochs,
        eval_loop=eval_loop,
    )()
    _result(args.out, model, eval_loop.metric_values)


def evaluate(args: argparse.Namespace) -> None:
    model = TopLevelModule(BasicNet()).to(args.device)
    if args.ckpt:
        model.load(args.ckpt)
    eval_loop = EvalLoop(
        model=model,
        dataset=DigitDataset("./digits", "val"),
        metrics=dict(accuracy=AverageMetric(MiniBatchAccuracy())),
        side_effects=[TqdmSideEffect(), EventCounter(args.out, is_distributed=True)],
        batch_size=7,
    )
    eval_loop()
    _result(args.out, model, eval_loop.metric_values)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["train", "resume", "eval"])
    parser.add_argument("out")
    parser.add_argument("ckpt", nargs="?", default="")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--save-after", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=0)
    args = parser.parse_args(argv)
    {"train": train, "resume": resume, "eval": evaluate}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
