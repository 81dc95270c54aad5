"""TensorBoard callbacks (optional: they need the ``tensorboard`` package).

Constructing one without ``tensorboard`` installed raises a ConfigError naming the package.
Event files go to ``log_dir`` or, by default, ``<experiment folder>/tensorboard``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from unitrain.compat.aitoolbox.abstract import AbstractExperimentCallback
from unitrain.compat.aitoolbox.experiment import experiment_dir
from unitrain.errors import ConfigError

__all__ = ["TensorboardFullTracking", "TensorboardTrainBatchLoss", "TensorboardTrainHistoryMetric"]


def _summary_writer_class(who: str) -> Any:
    try:
        module = importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        raise ConfigError(
            f"{who} writes TensorBoard event files and needs the tensorboard package, which "
            "is not installed; pip install tensorboard (or leave the callback out)"
        ) from None
    return module.SummaryWriter


class _Tensorboard(AbstractExperimentCallback):
    def __init__(
        self,
        name: str,
        metric_names: list[str] | None,
        batch_log_frequency: int | None,
        log_dir: str | None,
        writer_kwargs: dict[str, Any],
        **experiment: Any,
    ) -> None:
        super().__init__(name, execution_order=97, device_idx_execution=0, **experiment)
        self.writer_class = _summary_writer_class(name)
        if batch_log_frequency is not None and batch_log_frequency < 1:
            raise ConfigError(f"{name}(batch_log_frequency={batch_log_frequency}): >= 1")
        self.metric_names = metric_names
        self.batch_log_frequency = batch_log_frequency
        self.log_dir = log_dir
        self.writer_kwargs = writer_kwargs
        self.writer: Any = None

    def on_train_loop_registration(self) -> None:
        if self.log_dir is None:
            self.try_infer_experiment_details(infer_cloud_details=False)
            self.log_dir = os.path.join(experiment_dir(self), "tensorboard")
        self.writer = self.writer_class(log_dir=self.log_dir, **self.writer_kwargs)

    def on_batch_end(self) -> None:
        loop = self.train_loop_obj
        frequency = self.batch_log_frequency
        if frequency is not None and (loop.total_iteration_idx + 1) % frequency == 0:
            last = loop.loss_accum_tensors[-1]
            self.writer.add_scalar("train/batch_loss", float(last), loop.total_iteration_idx)

    def on_epoch_end(self) -> None:
        loop = self.train_loop_obj
        for name, values in loop.train_history.items():
            wanted = self.metric_names is None or name in self.metric_names
            if wanted and values and isinstance(values[-1], int | float):
                self.writer.add_scalar(f"epoch/{name}", values[-1], loop.epoch)
        self.writer.flush()

    def on_train_end(self) -> None:
        self.writer.close()


class TensorboardTrainBatchLoss(_Tensorboard):
    """The last batch loss every ``batch_log_frequency`` iterations, and epoch losses."""

    def __init__(
        self, batch_log_frequency: int = 1, log_dir: str | None = None, **kwargs: Any
    ) -> None:
        experiment = {k: kwargs.pop(k) for k in _EXPERIMENT_KEYS if k in kwargs}
        super().__init__(
            "TensorBoard train batch loss",
            ["loss", "accumulated_loss"],
            batch_log_frequency,
            log_dir,
            kwargs,
            **experiment,
        )


class TensorboardTrainHistoryMetric(_Tensorboard):
    """The ``metric_names`` (default: all) of ``train_history`` after every epoch."""

    def __init__(
        self, metric_names: list[str] | None = None, log_dir: str | None = None, **kwargs: Any
    ) -> None:
        experiment = {k: kwargs.pop(k) for k in _EXPERIMENT_KEYS if k in kwargs}
        super().__init__(
            "TensorBoard train history metric", metric_names, None, log_dir, kwargs, **experiment
        )


class TensorboardFullTracking(_Tensorboard):
    """History metrics every epoch plus the batch loss every ``batch_log_frequency``."""

    def __init__(
        self,
        metric_names: list[str] | None = None,
        batch_log_frequency: int = 1,
        log_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        experiment = {k: kwargs.pop(k) for k in _EXPERIMENT_KEYS if k in kwargs}
        super().__init__(
            "TensorBoard full tracking",
            metric_names,
            batch_log_frequency,
            log_dir,
            kwargs,
            **experiment,
        )


_EXPERIMENT_KEYS = (
    "project_name",
    "experiment_name",
    "local_model_result_folder_path",
    "cloud_save_mode",
    "bucket_name",
    "cloud_dir_prefix",
)
