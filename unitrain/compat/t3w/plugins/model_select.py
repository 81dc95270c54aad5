"""t3w's ``SaveBestModelsSideEffect``: keep the K best checkpoints by an eval metric."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from unitrain.compat.t3w.side_effect import ISideEffect
from unitrain.errors import ConfigError

__all__ = ["SaveBestModelsSideEffect"]


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
