"""Performance callbacks: result packages on predictions, and printed reports."""

from __future__ import annotations

import copy
from typing import Any

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.compat.aitoolbox.result_packages import AbstractResultPackage
from unitrain.errors import ConfigError

__all__ = ["ModelPerformanceEvaluation", "ModelPerformancePrintReport"]


class ModelPerformanceEvaluation(AbstractCallback):
    """Evaluate a result package on the train / validation predictions into the history.

    Each epoch (``on_each_epoch``, every ``eval_frequency`` epochs) it writes
    ``train_<metric>`` / ``val_<metric>``; at the end of training ``train_end_train_<m>``,
    ``train_end_val_<m>`` and, with a test loader, ``train_end_test_<m>``. Predictions come
    from the loop's cached prediction passes, so several evaluators share one pass.
    """

    def __init__(
        self,
        result_package: AbstractResultPackage,
        args: dict[str, Any] | None = None,
        on_each_epoch: bool = True,
        on_train_data: bool = False,
        on_val_data: bool = True,
        eval_frequency: int | None = None,
        if_available_output_to_project_dir: bool = True,
    ) -> None:
        super().__init__("Model performance calculator - evaluator")
        if not isinstance(result_package, AbstractResultPackage):
            raise ConfigError(
                f"ModelPerformanceEvaluation(result_package=...): expected a result package, "
                f"got {type(result_package).__name__}"
            )
        if not (on_train_data or on_val_data):
            raise ConfigError("ModelPerformanceEvaluation: set on_train_data or on_val_data")
        if eval_frequency is not None and eval_frequency < 1:
            raise ConfigError(f"ModelPerformanceEvaluation(eval_frequency={eval_frequency}): >= 1")
        self.result_package = result_package
        self.args = dict(args or {})
        self.on_each_epoch = on_each_epoch
        self.on_train_data = on_train_data
        self.on_val_data = on_val_data
        self.eval_frequency = eval_frequency
        self.if_available_output_to_project_dir = if_available_output_to_project_dir

    def on_train_loop_registration(self) -> None:
        if self.on_val_data and self.train_loop_obj.validation_loader is None:
            raise ConfigError(
                "ModelPerformanceEvaluation(on_val_data=True): the train loop has no "
                "validation_loader; give one or set on_val_data=False"
            )

    def _evaluate(self, split: str) -> dict[str, Any]:
        loop = self.train_loop_obj
        predict = {
            "train": loop.predict_on_train_set,
            "val": loop.predict_on_validation_set,
            "test": loop.predict_on_test_set,
        }[split]
        y_pred, y_true, _ = predict()
        package = copy.deepcopy(self.result_package)  # one package object per split
        return package.prepare_result_package(y_true, y_pred, hyperparameters=self.args)

    def _splits(self) -> list[str]:
        return [s for s, on in (("train", self.on_train_data), ("val", self.on_val_data)) if on]

    def on_epoch_end(self) -> None:
        loop = self.train_loop_obj
        if not self.on_each_epoch:
            return
        if self.eval_frequency is not None and loop.epoch % self.eval_frequency:
            return
        for split in self._splits():
            for name, value in self._evaluate(split).items():
                loop.insert_metric_result_into_history(f"{split}_{name}", value)

    def on_train_end(self) -> None:
        loop = self.train_loop_obj
        splits = self._splits() + (["test"] if loop.test_loader is not None else [])
        for split in splits:
            for name, value in self._evaluate(split).items():
                loop.insert_metric_result_into_history(f"train_end_{split}_{name}", value)


class ModelPerformancePrintReport(AbstractCallback):
    """Print chosen ``train_history`` metrics each epoch (every ``report_frequency``) and at
    the end. ``strict_metric_reporting`` makes a missing metric an error."""

    def __init__(
        self,
        metrics: list[str],
        on_each_epoch: bool = True,
        report_frequency: int | None = None,
        strict_metric_reporting: bool = True,
        list_tracked_metrics: bool = False,
    ) -> None:
        super().__init__(
            "Model performance print reporter", execution_order=97, device_idx_execution=0
        )
        if not metrics:
            raise ConfigError("ModelPerformancePrintReport(metrics=[]): name at least one metric")
        self.metrics = list(metrics)
        self.on_each_epoch = on_each_epoch
        self.report_frequency = report_frequency
        self.strict_metric_reporting = strict_metric_reporting
        self.list_tracked_metrics = list_tracked_metrics
        self.last_report: dict[str, Any] = {}

    def _report(self, title: str) -> None:
        history = self.train_loop_obj.train_history
        if self.list_tracked_metrics:
            print(f"Tracked metrics: {sorted(history.keys())}")
        report: dict[str, Any] = {}
        for metric in self.metrics:
            if history.get(metric):
                report[metric] = history[metric][-1]
            elif self.strict_metric_reporting:
                raise ConfigError(
                    f"ModelPerformancePrintReport: metric {metric!r} is not in train_history "
                    f"(it holds {sorted(k for k, v in history.items() if v)}); add the "
                    "callback that computes it, or set strict_metric_reporting=False"
                )
        self.last_report = report
        print(title)
        for metric, value in report.items():
            print(f"  {metric}: {value}")

    def on_epoch_end(self) -> None:
        epoch = self.train_loop_obj.epoch
        if self.on_each_epoch and (
            self.report_frequency is None or epoch % self.report_frequency == 0
        ):
            self._report(f"Performance report at epoch {epoch}:")

    def on_train_end(self) -> None:
        self._report("Performance report at the end of training:")
