"""An aitoolbox callback handed straight to a native :class:`unitrain.Trainer`.

``Trainer(task, plugins=[EarlyStopping(...)])`` registers the callback through
``AbstractCallback.unitrain_plugin``: the trainer gets one :class:`NativeLoopView` (a
``train_loop_obj`` with a ``TrainLoop``'s attributes, read from the trainer's state, and
itself the plugin that keeps ``train_history``) and, per callback, the same adapter plugin a
``TrainLoop`` makes. So a callback reads ``epoch``, ``iteration``, ``total_iteration_idx``,
``model``, ``optimizer(s)``, ``train_history`` (``loss`` / ``val_loss`` from the trainer's
``"train"`` / ``"val"`` evaluations, ``accumulated_loss``), ``message_service`` and sets
``early_stop`` exactly as in a ``TrainLoop``.

``predict_on_{train,validation,test}_set`` and ``evaluate_loss_on_*`` run the native task
over the trainer's data (see :mod:`.native_passes`): the train set is the ``fit``'s training
data, the validation / test sets its ``eval_data`` splits ``"val"`` / ``"test"``; they
return what a ``TrainLoop`` returns (``(y_pred, y_true, metadata)``; the mean loss, a float
with ``float_dict_format``). A split the trainer has no data for is refused by name.

What a native trainer does not have is refused by name: inferred experiment details
(give ``project_name`` / ``experiment_name`` / ``local_model_result_folder_path`` to the
callback).
"""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING, Any

from unitrain.compat.aitoolbox.adapter import CallbackPlugin, make_plugin
from unitrain.compat.aitoolbox.facade import EngineView, disabled_scaler
from unitrain.compat.aitoolbox.handler import CallbacksHandler
from unitrain.compat.aitoolbox.history import TrainingHistory
from unitrain.compat.aitoolbox.loop_events import EpochReport, MessagePurge
from unitrain.compat.aitoolbox.messages import MessageService
from unitrain.compat.aitoolbox.native_passes import NativePasses, SplitRecorder
from unitrain.compat.aitoolbox.prediction_store import ModelPredictionStore
from unitrain.core.stash import StashKey
from unitrain.errors import ConfigError
from unitrain.hooks.markers import hookimpl

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.abstract import AbstractCallback
    from unitrain.core.state import State
    from unitrain.hooks.manager import PluginManager

__all__ = ["NativeLoopView", "native_plugin"]

_VIEW: StashKey[NativeLoopView] = StashKey("aitoolbox train_loop_obj")


class _StateHolder:
    """What :class:`EngineView` reads as ``trainer``: only the state."""

    def __init__(self, state: State) -> None:
        self.state = state


class NativeLoopView(EngineView, NativePasses):
    """``train_loop_obj`` of the aitoolbox callbacks on one native trainer."""

    def __init__(self, state: State) -> None:
        self.trainer: Any = _StateHolder(state)
        self.init_passes()
        self.callbacks: list[AbstractCallback] = []
        self.callbacks_handler = CallbacksHandler(self)  # type: ignore[arg-type]
        self.train_history = TrainingHistory(has_validation=True)
        self.message_service = MessageService()
        self.prediction_store = ModelPredictionStore(auto_purge=True)
        self.prediction_callbacks_info: dict[str, Any] | None = None
        self.grad_cb_used = False
        self.experiment_timestamp = datetime.datetime.fromtimestamp(time.time()).strftime(
            "%Y-%m-%d_%H-%M-%S"
        )
        self.train_loader = self.validation_loader = self.test_loader = None
        self.end_auto_eval = False  # the trainer's own eval_every_* settings evaluate
        self.print_epoch_losses = False
        self.lazy_experiment_save = False
        self.use_amp = False
        self.amp_scaler_state: dict[str, Any] | None = None
        self.idle_scaler = disabled_scaler()
        self.device_setting = str(state.device)
        self.grad_accumulation = state.accumulation
        self.before_backward = self.in_step = self.in_epoch = False
        self.next_epoch: int | None = None
        self.fit_start_epoch = 0
        self.iteration_shift = 0
        self.idle_iteration = 0
        self.idle_early_stop = False
        self.loss_accum_tensors: list[Any] = []
        self.report = EpochReport(self)  # type: ignore[arg-type]
        self.purge = MessagePurge(self)  # type: ignore[arg-type]

    @property
    def model(self) -> Any:
        """The trainer's model."""
        return self.state.model

    @property
    def optimizer(self) -> Any:
        """The trainer's first optimizer; ``None`` until the fit makes it."""
        optimizers = self.state.optimizers
        return optimizers[0] if optimizers else None

    def optimizers(self) -> list[Any]:
        """The trainer's optimizers (made when the fit starts)."""
        return list(self.state.optimizers)

    def insert_metric_result_into_history(self, metric_name: str, metric_result: Any) -> None:
        """Append one epoch's value of ``metric_name`` to ``train_history``."""
        self.train_history.insert_single_result_into_history(metric_name, metric_result)

    def get_schedulers(self) -> list[AbstractCallback]:
        """The registered scheduler callbacks."""
        return [cb for cb in self.callbacks if getattr(cb, "is_lr_scheduler", False)]

    def get_num_training_steps(self) -> int:
        """Optimizer steps of the fit, from the trainer's ``max_steps`` / epochs."""
        state = self.state
        if state.max_steps is not None:
            return state.max_steps
        if state.max_epochs is None or state.epoch_length is None:
            raise ConfigError(
                "get_num_training_steps: the native trainer's fit length is not known yet "
                "(give max_steps, or pass num_training_steps to the warm-up scheduler)"
            )
        return -(-state.epoch_length // state.accumulation) * state.max_epochs

    def print_registered_callback_names(self) -> None:
        """Print, for each hook, the callbacks that run there in execution order."""
        self.callbacks_handler.print_registered_callback_names()


class _FitStart:
    """Takes the fit's start epoch and accumulation into the view."""

    name = "aitoolbox_train_loop_obj"

    def __init__(self, view: NativeLoopView) -> None:
        self.view = view

    @hookimpl(tryfirst=True)
    def on_fit_start(self, state: State) -> None:
        self.view.fit_start_epoch = state.epoch
        self.view.grad_accumulation = state.accumulation


def native_plugin(callback: AbstractCallback, manager: PluginManager) -> CallbackPlugin:
    """The plugin for ``callback`` on the trainer of ``manager`` (see the module doc)."""
    state = manager.state
    if state is None:
        raise ConfigError(
            f"aitoolbox callback {callback.callback_name!r} can only join a plugin manager "
            "that belongs to a unitrain.Trainer"
        )
    view = state.stash.get(_VIEW)
    if view is None:
        view = NativeLoopView(state)
        view.manager = manager
        state.stash[_VIEW] = view
        manager.register(SplitRecorder(view))
        manager.register(_FitStart(view))
        manager.register(view.report, name="aitoolbox_epoch_report")
        manager.register(view.purge, name="aitoolbox_message_purge")
    view.callbacks_handler.register_callbacks([callback])
    return make_plugin(callback, view)  # type: ignore[arg-type]
