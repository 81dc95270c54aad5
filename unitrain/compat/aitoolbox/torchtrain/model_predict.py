"""``aitoolbox.torchtrain.model_predict``: ``PyTorchModelPredictor``, predictions and losses of
a trained model on one loader, without training.

It is a predict-only :class:`TrainLoop` (no optimizer, the loader as its test set), so the
passes are the engine's and callbacks given to it run as in any loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.compat.aitoolbox.train_loop import TrainLoop

__all__ = ["PyTorchModelPredictor"]


class PyTorchModelPredictor:
    """Predict with ``model`` (a ``TTModel`` or ``ModelWrap``) over ``data_loader``."""

    def __init__(
        self,
        model: Any,
        data_loader: Any,
        callbacks: Sequence[AbstractCallback] | None = None,
    ) -> None:
        self.model = model
        self.data_loader = data_loader
        self.train_loop = TrainLoop(model, None, None, data_loader, None, None)
        self.train_loop.callbacks_handler.register_callbacks(callbacks)

    def model_predict(self) -> tuple[Any, Any, dict[str, Any]]:
        """``(y_pred, y_true, metadata)`` over the loader."""
        return self.train_loop.predict_on_test_set()

    def model_get_loss(self, loss_criterion: Any) -> Any:
        """The mean ``get_loss_eval`` over the loader with ``loss_criterion``."""
        self.train_loop.criterion = loss_criterion
        return self.train_loop.evaluate_loss_on_test_set()

    def evaluate_result_package(
        self, result_package: Any, return_result_package: bool = True
    ) -> Any:
        """Prepare ``result_package`` on the predictions; the package, or its results dict."""
        y_pred, y_test, additional_results = self.train_loop.predict_on_test_set()
        result_package.prepare_result_package(
            y_test, y_pred, hyperparameters={}, additional_results=additional_results
        )
        return result_package if return_result_package else result_package.get_results()

    def evaluate_metric(self, metric_class: Any, return_metric: bool = True) -> Any:
        """``metric_class(y_true, y_pred)`` on the predictions; the metric, or its dict."""
        y_pred, y_test, _ = self.train_loop.predict_on_test_set()
        metric = metric_class(y_test, y_pred)
        return metric if return_metric else metric.get_metric_dict()

    def evaluate_metric_list(
        self, metrics_class_list: Sequence[Any], return_metric_list: bool = True
    ) -> Any:
        """Each metric class on the predictions: the metrics, or their dicts combined."""
        y_pred, y_test, _ = self.train_loop.predict_on_test_set()
        metrics = [metric_class(y_test, y_pred) for metric_class in metrics_class_list]
        if return_metric_list:
            return metrics
        combined: dict[str, Any] = {}
        for metric in metrics:
            combined.update(metric.get_metric_dict())
        return combined

    def execute_batch_end_callbacks(self) -> None:
        """Run the callbacks' ``on_batch_end`` once."""
        if not self.train_loop.callbacks:
            print("execute_batch_end_callbacks has no effect as there are no registered callbacks")
        self.train_loop.callbacks_handler.execute_batch_end()

    def execute_epoch_end_callbacks(self) -> None:
        """Run the callbacks' ``on_epoch_end`` once."""
        if not self.train_loop.callbacks:
            print("execute_epoch_end_callbacks has no effect as there are no registered callbacks")
        self.train_loop.callbacks_handler.execute_epoch_end()
