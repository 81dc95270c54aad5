"""``AbstractCallback`` and ``AbstractExperimentCallback``: the seed's callback interface.

A callback's methods are named after aitoolbox's hooks and take no state argument: state
is read (and written) through ``self.train_loop_obj``, the train loop facade backed by the
engine's one :class:`~unitrain.State`. Only the methods a subclass overrides are wired to
the engine (see :mod:`.adapter`), so an unused hook costs nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.messages import MessageService
    from unitrain.compat.aitoolbox.train_loop import TrainLoop

__all__ = ["AbstractCallback", "AbstractExperimentCallback", "SEED_HOOKS"]

SEED_HOOKS = (
    "on_train_loop_registration",
    "on_multiprocess_start",
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "on_after_gradient_update",
    "on_after_optimizer_step",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
    "on_after_batch_prediction",
)
"""Every aitoolbox callback hook, in the order the train loop first fires them."""


class AbstractCallback:
    """Base of every aitoolbox-style callback.

    ``execution_order`` is the callback's unitrain ``order`` (shared with every plugin
    style: lower runs first, ties in registration order); ``device_idx_execution`` limits it
    to the process whose device index (``LOCAL_RANK``) matches, ``None`` meaning every
    process. The gradient hooks run only when ``train_loop_obj.grad_cb_used`` is True (set
    it in ``on_train_loop_registration``).
    """

    def __init__(
        self,
        callback_name: str,
        execution_order: int = 0,
        device_idx_execution: int | None = None,
    ) -> None:
        if isinstance(execution_order, bool) or not isinstance(execution_order, int):
            raise ConfigError(
                f"callback {callback_name!r}: execution_order must be an int, got "
                f"{execution_order!r}"
            )
        if device_idx_execution is not None and (
            isinstance(device_idx_execution, bool)
            or not isinstance(device_idx_execution, int)
            or device_idx_execution < 0
        ):
            raise ConfigError(
                f"callback {callback_name!r}: device_idx_execution must be None or a device "
                f"index >= 0, got {device_idx_execution!r}"
            )
        self.callback_name = callback_name
        self.execution_order = execution_order
        self.device_idx_execution = device_idx_execution
        self.train_loop_obj: TrainLoop = None  # type: ignore[assignment]  # set at registration
        self.message_service: MessageService = None  # type: ignore[assignment]

    def register_train_loop_object(self, train_loop_obj: TrainLoop) -> AbstractCallback:
        """Give the callback its train loop, then run ``on_train_loop_registration``."""
        self.train_loop_obj = train_loop_obj
        self.message_service = train_loop_obj.message_service
        self.on_train_loop_registration()
        return self

    def unitrain_plugin(self, manager: Any) -> Any:
        """The plugin standing for this callback when it is handed straight to a native
        ``unitrain.Trainer`` (``plugins=[...]``): see :mod:`.native`."""
        from unitrain.compat.aitoolbox.native import native_plugin

        return native_plugin(self, manager)

    def on_train_loop_registration(self) -> None:
        """After ``train_loop_obj`` is available (at ``fit``, before the engine starts)."""

    def on_multiprocess_start(self) -> None:
        """In each process of a multi-process run, before ``on_train_begin``."""

    def on_train_begin(self) -> None:
        """The fit begins (model on its device, optimizers made)."""

    def on_epoch_begin(self) -> None:
        """A training epoch begins."""

    def on_batch_begin(self) -> None:
        """A training batch begins (before the loss is computed)."""

    def on_after_gradient_update(self, optimizer_idx: int) -> None:
        """Backward is done for ``optimizer_idx``; before its step (needs ``grad_cb_used``)."""

    def on_after_optimizer_step(self) -> None:
        """An optimizer stepped; only on update iterations (needs ``grad_cb_used``)."""

    def on_batch_end(self) -> None:
        """A training batch is done (after the optimizer step when one was due)."""

    def on_epoch_end(self) -> None:
        """An epoch is done; its losses are already in ``train_history``."""

    def on_train_end(self) -> None:
        """The fit is done (``train_end_test_loss`` already evaluated when there is a test set)."""

    def on_after_batch_prediction(
        self,
        y_pred_batch: Any,
        y_test_batch: Any,
        metadata_batch: Any,
        dataset_info: dict[str, Any] | None,
    ) -> None:
        """After each batch of a prediction pass run with ``execute_callbacks=True``."""


class AbstractExperimentCallback(AbstractCallback):
    """A callback that writes files into the experiment folder of a tracking train loop.

    Missing ``project_name`` / ``experiment_name`` / ``local_model_result_folder_path`` (and
    the cloud settings) are taken from the train loop by :meth:`try_infer_experiment_details`.
    Files are saved locally; ``cloud_save_mode`` other than ``None`` / ``"local"`` also uploads
    them through fsspec to ``<cloud_save_mode>://<bucket_name>/<cloud_dir_prefix>/...``;
    set ``storage_options`` (a dict) for the filesystem's options, e.g. an S3
    ``{"client_kwargs": {"endpoint_url": ...}}``.
    """

    def __init__(
        self,
        callback_name: str,
        project_name: str | None = None,
        experiment_name: str | None = None,
        local_model_result_folder_path: str | None = None,
        cloud_save_mode: str | None = None,
        bucket_name: str | None = None,
        cloud_dir_prefix: str | None = None,
        execution_order: int = 0,
        device_idx_execution: int | None = None,
    ) -> None:
        super().__init__(callback_name, execution_order, device_idx_execution)
        self.project_name = project_name
        self.experiment_name = experiment_name
        self.local_model_result_folder_path = (
            None
            if local_model_result_folder_path is None
            else os.path.expanduser(local_model_result_folder_path)
        )
        self.cloud_save_mode = cloud_save_mode
        self.bucket_name = bucket_name
        self.cloud_dir_prefix = cloud_dir_prefix
        self.storage_options: dict[str, Any] = {}

    def try_infer_experiment_details(self, infer_cloud_details: bool) -> None:
        """Fill the missing experiment settings from the (tracking) train loop."""
        loop = self.train_loop_obj
        try:
            if self.project_name is None:
                self.project_name = loop.project_name  # type: ignore[attr-defined]
            if self.experiment_name is None:
                self.experiment_name = loop.experiment_name  # type: ignore[attr-defined]
            if self.local_model_result_folder_path is None:
                self.local_model_result_folder_path = loop.local_model_result_folder_path  # type: ignore[attr-defined]
        except AttributeError:
            raise AttributeError(
                f"callback {self.callback_name!r}: the train loop does not track an "
                "experiment, so project_name, experiment_name and "
                "local_model_result_folder_path cannot be inferred; give them to the callback "
                "or use TrainLoopCheckpoint / TrainLoopEndSave / TrainLoopCheckpointEndSave"
            ) from None
        if infer_cloud_details and self.cloud_save_mode is None:
            # Cloud settings are optional: a plain loop has none, which means local only.
            self.cloud_save_mode = getattr(loop, "cloud_save_mode", None)
            self.bucket_name = getattr(loop, "bucket_name", self.bucket_name)
            self.cloud_dir_prefix = getattr(loop, "cloud_dir_prefix", self.cloud_dir_prefix)
