"""Stopping and utility callbacks: early stopping, NaN guard, lambdas, debug subsets."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import islice
from typing import Any

import torch

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.errors import ConfigError

__all__ = [
    "AllPredictionsSame",
    "DataSubsetTestRun",
    "EarlyStopping",
    "FunctionOnTrainLoop",
    "ListRegisteredCallbacks",
    "TerminateOnNaN",
    "ThresholdEarlyStopping",
]


def _minimise(monitor: str) -> bool:
    """aitoolbox's rule: a metric whose name holds 'loss' or 'error' is minimised."""
    return "loss" in monitor or "error" in monitor


def _last(callback: AbstractCallback, monitor: str) -> Any:
    history = callback.train_loop_obj.train_history
    if monitor not in history or not history[monitor]:
        raise ConfigError(
            f"{callback.callback_name}: monitored metric {monitor!r} has no value in "
            f"train_history at epoch {callback.train_loop_obj.epoch} (it holds "
            f"{sorted(k for k, v in history.items() if v)}); give the TrainLoop a "
            "validation_loader for 'val_loss', or add a callback that writes the metric "
            "with a lower execution_order"
        )
    return history[monitor][-1]


class EarlyStopping(AbstractCallback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(
        self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0
    ) -> None:
        super().__init__("EarlyStopping", execution_order=99)
        if patience < 0:
            raise ConfigError(f"EarlyStopping(patience={patience}): must be >= 0")
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.patience_count = patience
        self.best_performance: float | None = None
        self.best_epoch = 0

    def on_epoch_end(self) -> None:
        current = _last(self, self.monitor)
        if self.best_performance is None:
            self.best_performance, self.best_epoch = current, self.train_loop_obj.epoch
            return
        if _minimise(self.monitor):
            improved = current < self.best_performance - self.min_delta
        else:
            improved = current > self.best_performance + self.min_delta
        if improved:
            self.best_performance, self.best_epoch = current, self.train_loop_obj.epoch
            self.patience_count = self.patience
        else:
            self.patience_count -= 1
        if self.patience_count < 0:
            self.train_loop_obj.early_stop = True
            print(
                f"Early stopping at epoch {self.train_loop_obj.epoch}. "
                f"Best recorded epoch: {self.best_epoch}."
            )


class ThresholdEarlyStopping(AbstractCallback):
    """Stop when ``monitor`` has not reached ``threshold`` after ``patience`` more epochs."""

    def __init__(self, monitor: str, threshold: float, patience: int = 0) -> None:
        super().__init__("ThresholdEarlyStopping", execution_order=99)
        if patience < 0:
            raise ConfigError(f"ThresholdEarlyStopping(patience={patience}): must be >= 0")
        self.monitor = monitor
        self.threshold = threshold
        self.patience = patience
        self.patience_count = patience

    def on_epoch_end(self) -> None:
        current = _last(self, self.monitor)
        minimise = _minimise(self.monitor)
        reached = current <= self.threshold if minimise else current >= self.threshold
        if reached:
            self.patience_count = self.patience
            return
        self.patience_count -= 1
        if self.patience_count < 0:
            self.train_loop_obj.early_stop = True
            print(
                f"Threshold early stopping at epoch {self.train_loop_obj.epoch}: "
                f"{self.monitor} = {current} did not reach {self.threshold}."
            )


class TerminateOnNaN(AbstractCallback):
    """Stop when the last value of ``monitor`` is NaN or infinite."""

    def __init__(self, monitor: str = "loss") -> None:
        super().__init__("TerminateOnNaN", execution_order=98)
        self.monitor = monitor

    def on_epoch_end(self) -> None:
        value = _last(self, self.monitor)
        values = value.values() if isinstance(value, dict) else [value]
        if any(not math.isfinite(float(v)) for v in values):
            self.train_loop_obj.early_stop = True
            print(f"Terminating on {self.monitor} = {value} at epoch {self.train_loop_obj.epoch}.")


class AllPredictionsSame(AbstractCallback):
    """Detect a collapsed model: every validation prediction equals ``value``."""

    def __init__(
        self, value: float = 0.0, stop_training: bool = False, verbose: bool = True
    ) -> None:
        super().__init__("AllPredictionsSame")
        self.value = value
        self.stop_training = stop_training
        self.verbose = verbose
        self.all_same_epochs: list[int] = []

    def on_epoch_end(self) -> None:
        y_pred, _, _ = self.train_loop_obj.predict_on_validation_set()
        if bool(torch.all(torch.as_tensor(y_pred) == self.value)):
            self.all_same_epochs.append(self.train_loop_obj.epoch)
            if self.verbose:
                epoch = self.train_loop_obj.epoch
                print(f"All validation predictions are {self.value} at epoch {epoch}.")
            if self.stop_training:
                self.train_loop_obj.early_stop = True


class FunctionOnTrainLoop(AbstractCallback):
    """Run ``fn(train_loop)`` at each selected point of the loop."""

    def __init__(
        self,
        fn_to_execute: Callable[[Any], Any],
        tl_registration: bool = False,
        epoch_begin: bool = False,
        epoch_end: bool = False,
        train_begin: bool = False,
        train_end: bool = False,
        batch_begin: bool = False,
        batch_end: bool = False,
        after_gradient_update: bool = False,
        after_optimizer_step: bool = False,
        execution_order: int = 0,
        device_idx_execution: int | None = None,
    ) -> None:
        super().__init__("Execute given function", execution_order, device_idx_execution)
        self.fn_to_execute = fn_to_execute
        self.points = {
            "tl_registration": tl_registration,
            "epoch_begin": epoch_begin,
            "epoch_end": epoch_end,
            "train_begin": train_begin,
            "train_end": train_end,
            "batch_begin": batch_begin,
            "batch_end": batch_end,
            "after_gradient_update": after_gradient_update,
            "after_optimizer_step": after_optimizer_step,
        }

    def execute_callback(self) -> None:
        """Run the function now (with no point selected, this is the only way it runs)."""
        self.fn_to_execute(self.train_loop_obj)

    def _run(self, point: str) -> None:
        if self.points[point]:
            self.execute_callback()

    def on_train_loop_registration(self) -> None:
        if self.points["after_gradient_update"] or self.points["after_optimizer_step"]:
            self.train_loop_obj.grad_cb_used = True
        self._run("tl_registration")

    def on_epoch_begin(self) -> None:
        self._run("epoch_begin")

    def on_epoch_end(self) -> None:
        self._run("epoch_end")

    def on_train_begin(self) -> None:
        self._run("train_begin")

    def on_train_end(self) -> None:
        self._run("train_end")

    def on_batch_begin(self) -> None:
        self._run("batch_begin")

    def on_batch_end(self) -> None:
        self._run("batch_end")

    def on_after_gradient_update(self, optimizer_idx: int) -> None:
        self._run("after_gradient_update")

    def on_after_optimizer_step(self) -> None:
        self._run("after_optimizer_step")


class ListRegisteredCallbacks(AbstractCallback):
    """Print, at the start of training, which callbacks run at each hook."""

    def __init__(self) -> None:
        super().__init__("Print the list of registered callbacks")

    def on_train_begin(self) -> None:
        self.train_loop_obj.print_registered_callback_names()


class DataSubsetTestRun(AbstractCallback):
    """Train (and evaluate) on the first N batches only: a quick smoke or debug run.

    ``0`` batches for validation or test leaves that loader whole.
    """

    def __init__(
        self, num_train_batches: int = 1, num_val_batches: int = 0, num_test_batches: int = 0
    ) -> None:
        super().__init__("Take a subset of data for a test run")
        for label, value in (
            ("num_train_batches", num_train_batches),
            ("num_val_batches", num_val_batches),
            ("num_test_batches", num_test_batches),
        ):
            if value < 0:
                raise ConfigError(f"DataSubsetTestRun({label}={value}): must be >= 0")
        if num_train_batches < 1:
            raise ConfigError("DataSubsetTestRun(num_train_batches=0): must be >= 1")
        self.sizes = {
            "train_loader": num_train_batches,
            "validation_loader": num_val_batches,
            "test_loader": num_test_batches,
        }

    def on_train_loop_registration(self) -> None:
        for attribute, size in self.sizes.items():
            if size and getattr(self.train_loop_obj, attribute) is None:
                raise ConfigError(
                    f"DataSubsetTestRun: a subset of {attribute} was asked for, but the train "
                    f"loop has no {attribute}; give the loop one or leave that count at 0"
                )

    def on_train_begin(self) -> None:
        loop = self.train_loop_obj
        for attribute, size in self.sizes.items():
            loader = getattr(loop, attribute)
            if size and loader is not None:
                setattr(loop, attribute, list(islice(loader, size)))
