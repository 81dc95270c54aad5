"""t3w's shipped side effects: progress bars, best-K model saving, linear LR warm-up."""

from __future__ import annotations

import glob
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from unitrain.compat.t3w.contract import StepReturnDict
from unitrain.compat.t3w.side_effect import ISideEffect
from unitrain.errors import ConfigError

__all__ = ["SaveBestModelsSideEffect", "TqdmSideEffect", "WarmUpSideEffect"]


class TqdmSideEffect(ISideEffect):
    """Progress bars for epochs, train steps and eval passes (drawn with rich), and the
    eval metrics written at the end of each pass.

    ``postfix_keys`` picks the losses / metrics shown beside the step bar (empty: all);
    losses show as ``reweight*raw``. Reading a value waits for the device, so the postfix
    is refreshed at most every ``refresh_seconds``. ``smoothing`` is accepted for
    compatibility (rich smooths its own speed estimate).
    """

    def __init__(
        self,
        postfix_keys: Sequence[str] = (),
        smoothing: float = 0.9,
        *,
        console: Console | None = None,
        refresh_seconds: float = 0.2,
    ) -> None:
        self.postfix_keys = list(postfix_keys)
        self.smoothing = smoothing
        self.console = console
        self.refresh_seconds = refresh_seconds
        self.lines: list[str] = []  # the eval summaries written, also kept for inspection
        self._progress: Progress | None = None
        self._epochs: TaskID | None = None
        self._steps: TaskID | None = None
        self._eval: TaskID | None = None
        self._shown_at = 0.0

    def _bars(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[postfix]}"),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        return self._progress

    def on_train_started(self, loop: Any) -> None:
        self._epochs = self._bars().add_task("Epochs", total=loop.epochs, postfix="")

    def on_train_epoch_started(self, loop: Any, epoch: int) -> None:
        total = loop.iter_per_epoch or (len(loop.loader) if loop.loader is not None else None)
        self._steps = self._bars().add_task(f"Train {epoch}", total=total, postfix="")

    def on_train_step_finished(
        self, loop: Any, step: int, mb: Any, step_return: StepReturnDict
    ) -> None:
        bars = self._bars()
        assert self._steps is not None
        now = time.monotonic()
        if now - self._shown_at < self.refresh_seconds:
            bars.advance(self._steps)
            return
        self._shown_at = now
        bars.update(self._steps, advance=1, postfix=_postfix(step_return, self.postfix_keys))

    def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
        bars = self._bars()
        if self._steps is not None:
            bars.remove_task(self._steps)
            self._steps = None
        if self._epochs is not None:
            bars.advance(self._epochs)

    def on_train_finished(self, loop: Any) -> None:
        self._close()

    def on_exception(self, state: Any, error: BaseException) -> None:
        """A native hook: stop the bars' refresh thread when a fit fails."""
        self._close()

    def on_eval_started(self, loop: Any) -> None:
        total = len(loop.loader) if getattr(loop, "loader", None) is not None else None
        self._eval = self._bars().add_task(f"Eval {_epoch(loop)}", total=total, postfix="")

    def on_eval_step_finished(self, loop: Any, step: int, mb: Any) -> None:
        if self._eval is not None:
            self._bars().advance(self._eval)

    def on_eval_finished(self, loop: Any) -> None:
        bars = self._bars()
        if self._eval is not None:
            bars.remove_task(self._eval)
            self._eval = None
        line = repr({"epoch": _epoch(loop), **loop.metric_values})
        self.lines.append(line)
        bars.console.print(line, markup=False, highlight=False)
        if self._epochs is None:  # a standalone evaluation: nothing else will close the bars
            self._close()

    def _close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = self._epochs = self._steps = self._eval = None


def _epoch(loop: Any) -> int:
    model = getattr(loop, "model", None)
    progress = getattr(model, "training_progress", None) or getattr(loop, "progress", None)
    return int(progress.epoch) if progress is not None else 0


def _postfix(step_return: StepReturnDict, keys: Sequence[str]) -> str:
    losses, metrics = step_return.get("losses", {}), step_return.get("metrics", {})
    parts = []
    for key in keys or [*losses, *metrics]:
        if key in losses:
            weight, raw = losses[key]
            parts.append(f"{key}={weight}*{_format(raw)}")
        elif key in metrics:
            parts.append(f"{key}={_format(metrics[key])}")
    return " ".join(parts)


def _format(value: Any) -> str:
    number = float(value.detach().item() if isinstance(value, torch.Tensor) else value)
    return "nan" if math.isnan(number) else f"{number:.4f}"[:6]


class SaveBestModelsSideEffect(ISideEffect):
    """Keeps the ``num_max_keep`` best checkpoints by the eval metric ``metric_name``.

    Better means higher when the metric's ``higher_better`` (of its minibatch metric) is
    True, else lower. Files are named ``{prefix}-ep{E}-step{S}-{metric}={value:.5f}.pt.gz``;
    existing files matching the prefix and metric are never overwritten (the fit refuses to
    start).
    """

    def __init__(self, metric_name: str, num_max_keep: int, save_path_prefix: str = "./") -> None:
        self.metric_name = metric_name
        self.num_max_keep = num_max_keep
        self.save_path_prefix = save_path_prefix
        self.history: list[dict[str, Any]] = []
        self._checked = False
        Path(save_path_prefix + "-").parent.mkdir(parents=True, exist_ok=True)

    def on_train_started(self, loop: Any) -> None:
        eval_loop = getattr(loop, "eval_loop", None)
        if eval_loop is None or self.metric_name not in eval_loop.metrics:
            have = sorted(eval_loop.metrics) if eval_loop is not None else "no eval_loop"
            raise ConfigError(
                f"SaveBestModelsSideEffect: the eval metric {self.metric_name!r} is not among "
                f"the eval loop's metrics ({have}); give TrainLoop an eval_loop with it"
            )
        self._guard_existing()

    def on_eval_started(self, loop: Any) -> None:
        self._guard_existing()

    def _guard_existing(self) -> None:
        if self._checked:
            return
        found = [
            path
            for path in glob.glob(glob.escape(self.save_path_prefix) + "*")
            if self.metric_name in path and ".pt" in path
        ]
        if found:
            raise FileExistsError(
                f"SaveBestModelsSideEffect: checkpoints matching {self.save_path_prefix}* "
                f"already exist ({sorted(found)[:3]}); move them or pick another prefix"
            )
        self._checked = True

    def on_eval_finished(self, loop: Any) -> None:
        if self.num_max_keep <= 0:
            return
        value = float(loop.metric_values[self.metric_name])
        metric = loop.metrics[self.metric_name]
        higher = bool(getattr(metric, "higher_better", True))
        ranked = sorted(self.history, key=lambda item: item["metric_value"], reverse=higher)
        if len(ranked) >= self.num_max_keep:
            worst = ranked[self.num_max_keep - 1]["metric_value"]
            if not (value >= worst if higher else value <= worst):
                return
            for item in ranked[self.num_max_keep - 1 :]:
                os.remove(item["saved_path"])
            ranked = ranked[: self.num_max_keep - 1]
        progress = loop.model.training_progress
        dash = "-" if Path(self.save_path_prefix + "-").name != "-" else ""
        path = (
            f"{self.save_path_prefix}{dash}ep{progress.epoch}-step{progress.step}-"
            f"{self.metric_name}={value:.5f}.pt.gz"
        ).replace("--ep", "-ep")
        loop.model.save(path)
        self.history = [*ranked, {"metric_value": value, "saved_path": path}]


class WarmUpSideEffect(ISideEffect):
    """Linear learning-rate warm-up over the first ``num_steps`` optimizer steps.

    Before each step while ``progress.step <= num_steps``, every parameter group's learning
    rate is ``progress.step / num_steps * base_lr``; ``base_lr`` is the scheduler's
    ``base_lrs`` or, without a scheduler, each group's starting rate.
    """

    def __init__(self, num_steps: int) -> None:
        if num_steps < 1:
            raise ConfigError(f"WarmUpSideEffect(num_steps={num_steps}): expected >= 1")
        self.num_steps = num_steps
        self.base_lrs: list[float] = []
        self.param_groups: list[dict[str, Any]] = []

    def on_train_started(self, loop: Any) -> None:
        model = loop.model
        optim = model.optim
        scheduler = getattr(model, "lr_scheduler", None)
        self.param_groups = optim.param_groups
        if scheduler is not None:
            self.base_lrs = list(scheduler.base_lrs)
        else:
            self.base_lrs = [group.get("initial_lr", group["lr"]) for group in optim.param_groups]

    def on_train_step_started(self, loop: Any, step: int, mb: Any) -> None:
        done = loop.model.training_progress.step
        if done <= self.num_steps:
            for base, group in zip(self.base_lrs, self.param_groups, strict=True):
                group["lr"] = done / self.num_steps * base
