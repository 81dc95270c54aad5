"""Performance callbacks: result packages on predictions, and printed reports."""

from __future__ import annotations

import copy
from typing import Any

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.errors import ConfigError

__all__ = ["ModelPerformanceEvaluation", "ModelPerformancePrintReport"]


class ModelPerformanceEvaluation(AbstractCallback):
    """Evaluate a result package on the validation (and/or train) predictions into the history.

    As in aitoolbox: each epoch (``on_each_epoch``, every ``eval_frequency`` epochs)
    ``val_<metric>`` / ``train_<metric>`` are written, and at the end of training
    ``train_end_val_<metric>`` / ``train_end_train_<metric>``. ``result_package`` itself is
    evaluated on the validation set; a deep copy of it (``train_result_package``) on the train
    set. Predictions come from the loop's cached passes, so several evaluators share one.
    A package with ``requires_loss`` also gets the split's loss in ``additional_results``.
    """

    def __init__(
        self,
        result_package: Any,
        args: dict[str, Any] | None = None,
        on_each_epoch: bool = True,
        on_train_data: bool = False,
        on_val_data: bool = True,
        eval_frequency: int | None = None,
        if_available_output_to_project_dir: bool = True,
    ) -> None:
        super().__init__("Model performance calculator - evaluator")
        if not callable(getattr(result_package, "prepare_result_package", None)):
            raise ConfigError(
                f"ModelPerformanceEvaluation(result_package=...): expected a result package "
                f"(with prepare_result_package), got {type(result_package).__name__}"
            )
        if not (on_train_data or on_val_data):
            raise ConfigError("ModelPerformanceEvaluation: set on_train_data or on_val_data")
        if eval_frequency is not None and eval_frequency < 1:
            raise ConfigError(f"ModelPerformanceEvaluation(eval_frequency={eval_frequency}): >= 1")
        self.result_package = result_package
        self.args = args
        self.on_each_epoch = on_each_epoch
        self.on_train_data = on_train_data
        self.on_val_data = on_val_data
        self.eval_frequency = eval_frequency
        self.if_available_output_to_project_dir = if_available_output_to_project_dir
        if on_train_data:
            self.train_result_package = copy.deepcopy(result_package)

    def on_train_loop_registration(self) -> None:
        loop = self.train_loop_obj
        tracked = all(
            hasattr(loop, name)
            for name in ("project_name", "experiment_name", "local_model_result_folder_path")
        )
        settle = getattr(
            self.result_package, "set_experiment_dir_path_for_additional_results", None
        )
        if self.if_available_output_to_project_dir and tracked and callable(settle):
            settle(
                loop.project_name,  # type: ignore[attr-defined]
                loop.experiment_name,  # type: ignore[attr-defined]
                loop.experiment_timestamp,
                loop.local_model_result_folder_path,  # type: ignore[attr-defined]
            )
        for package in self._packages():
            metric: Any = getattr(package, "metric", None)
            if callable(getattr(metric, "to", None)):  # a torchmetrics package
                metric.to(loop.device)

    def _packages(self) -> list[Any]:
        chosen = [self.train_result_package] if self.on_train_data else []
        return chosen + ([self.result_package] if self.on_val_data else [])

    def evaluate_model_performance(self, prefix: str = "") -> None:
        """Prepare the package(s) on the current predictions; store the results."""
        loop = self.train_loop_obj
        if self.on_train_data:
            y_pred, y_true, extra = loop.predict_on_train_set()
            if getattr(self.train_result_package, "requires_loss", False):
                extra["loss"] = loop.evaluate_loss_on_train_set()
            self.train_result_package.prepare_result_package(
                y_true, y_pred, hyperparameters=self.args, additional_results=extra
            )
        if self.on_val_data:
            y_pred, y_true, extra = loop.predict_on_validation_set()
            if getattr(self.result_package, "requires_loss", False):
                extra["loss"] = loop.evaluate_loss_on_validation_set(float_dict_format=True)
            self.result_package.prepare_result_package(
                y_true, y_pred, hyperparameters=self.args, additional_results=extra
            )
        self.store_evaluated_metrics_to_history(prefix=prefix)

    def store_evaluated_metrics_to_history(self, prefix: str = "") -> None:
        """Insert ``<prefix>train_<m>`` / ``<prefix>val_<m>`` for each evaluated metric."""
        loop = self.train_loop_obj
        main = self.result_package if self.on_val_data else self.train_result_package
        for name in main.get_results():
            if self.on_train_data:
                value = self.train_result_package.get_results()[name]
                loop.insert_metric_result_into_history(f"{prefix}train_{name}", value)
            if self.on_val_data:
                value = self.result_package.get_results()[name]
                loop.insert_metric_result_into_history(f"{prefix}val_{name}", value)

    def on_epoch_end(self) -> None:
        if self.on_each_epoch:
            if self.eval_frequency is None or self.train_loop_obj.epoch % self.eval_frequency == 0:
                self.evaluate_model_performance()
            else:
                print(f"Skipping performance evaluation at epoch {self.train_loop_obj.epoch}.")
        for package in self._packages():
            reset = getattr(package, "metric_reset", None)
            if callable(reset):  # a torchmetrics package accumulates per epoch
                reset()

    def on_train_end(self) -> None:
        self.evaluate_model_performance(prefix="train_end_")


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
