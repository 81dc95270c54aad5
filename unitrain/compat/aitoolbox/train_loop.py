"""``TrainLoop``: aitoolbox's train loop, built on (and running) the one unitrain engine.

``fit`` makes a :class:`unitrain.Trainer` whose task calls the ``TTModel``
(:mod:`.stages`), registers each callback as a plugin (:mod:`.adapter`) next to any native
unitrain plugin, and runs the engine. With ``end_auto_eval`` the engine evaluates the train
and validation sets at each epoch's end (splits ``"train"`` and ``"val"``), and the
results land in ``train_history`` before the callbacks' ``on_epoch_end``.
"""

from __future__ import annotations

import datetime
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from unitrain.compat.aitoolbox.abstract import SEED_HOOKS, AbstractCallback
from unitrain.compat.aitoolbox.adapter import make_plugin, overridden_hooks
from unitrain.compat.aitoolbox.facade import EngineView
from unitrain.compat.aitoolbox.handler import CallbacksHandler
from unitrain.compat.aitoolbox.history import TrainingHistory
from unitrain.compat.aitoolbox.loop_events import EpochReport, MessagePurge
from unitrain.compat.aitoolbox.messages import MessageService
from unitrain.compat.aitoolbox.model import MultiOptimizer
from unitrain.compat.aitoolbox.precision import amp_plugin, check_amp
from unitrain.compat.aitoolbox.predictions import (
    LoaderView,
    ModelPredictionStore,
    PredictionPasses,
    append_predictions,
    torch_cat_transf,
)
from unitrain.compat.aitoolbox.stages import TTModelTask
from unitrain.errors import ConfigError
from unitrain.trainer import Trainer

__all__ = ["TrainLoop"]

_MODEL_METHODS = ("get_loss", "get_loss_eval", "get_predictions")


class TrainLoop(EngineView, PredictionPasses):
    """Train a ``TTModel`` (or ``ModelWrap``) with aitoolbox callbacks on the unitrain engine.

    Extra keyword arguments beyond the seed's: ``device`` (a torch device string; default:
    ``cuda:<cuda_device_idx>`` when CUDA is available, else CPU), ``plugins`` (native unitrain
    plugins for every fit) and ``print_epoch_losses`` (print the epoch's losses, default
    True as in aitoolbox). ``gpu_mode`` must be ``"single"``: run the script under
    ``torchrun`` for several processes.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        train_loader: Any,
        validation_loader: Any,
        test_loader: Any,
        optimizer: torch.optim.Optimizer | MultiOptimizer,
        criterion: Any,
        collate_batch_pred_fn: Callable[[Any, list[Any]], list[Any]] = append_predictions,
        pred_transform_fn: Callable[[list[Any]], Any] = torch_cat_transf,
        end_auto_eval: bool | int = True,
        lazy_experiment_save: bool = False,
        print_callbacks: bool = False,
        gpu_mode: str = "single",
        cuda_device_idx: int | None = None,
        use_amp: bool | dict[str, Any] = False,
        *,
        device: str | torch.device | None = None,
        plugins: Iterable[object] = (),
        print_epoch_losses: bool = True,
    ) -> None:
        _check_model(model)
        if not isinstance(optimizer, torch.optim.Optimizer | MultiOptimizer):
            raise ConfigError(
                f"TrainLoop(optimizer=...): expected a torch optimizer or a MultiOptimizer, "
                f"got {type(optimizer).__name__}"
            )
        if gpu_mode != "single":
            raise ConfigError(
                f"TrainLoop(gpu_mode={gpu_mode!r}): the compat train loop runs one process; "
                "for several GPUs launch the script with torchrun (the unitrain engine reads "
                "RANK / WORLD_SIZE), or use gpu_mode='single'"
            )
        if isinstance(end_auto_eval, bool) or not isinstance(end_auto_eval, int):
            if not isinstance(end_auto_eval, bool):
                raise ConfigError(
                    f"TrainLoop(end_auto_eval={end_auto_eval!r}): expected True, False or "
                    "an int N >= 1 (evaluate every N epochs)"
                )
        elif end_auto_eval < 1:
            raise ConfigError(f"TrainLoop(end_auto_eval={end_auto_eval}): N must be >= 1")
        self._model = model
        self.train_loader = train_loader
        self.validation_loader = validation_loader
        self.test_loader = test_loader
        self.optimizer = optimizer
        self.criterion = criterion
        self.collate_batch_pred_fn = collate_batch_pred_fn
        self.pred_transform_fn = pred_transform_fn
        self.end_auto_eval = end_auto_eval
        self.lazy_experiment_save = lazy_experiment_save
        self.print_callbacks = print_callbacks
        self.print_epoch_losses = print_epoch_losses
        self.gpu_mode = gpu_mode
        self.device_setting = _device_setting(device, cuda_device_idx)
        check_amp(use_amp, self.device_setting)
        self.use_amp = bool(use_amp)
        self.amp_settings = use_amp
        self.amp_scaler_state: dict[str, Any] | None = None  # restored into the new scaler
        self.native_plugins: list[object] = list(plugins)
        self.callbacks: list[AbstractCallback] = []
        self.callbacks_handler = CallbacksHandler(self)
        self.train_history = TrainingHistory(has_validation=validation_loader is not None)
        self.message_service = MessageService()
        self.prediction_store = ModelPredictionStore()
        self.prediction_callbacks_info: dict[str, Any] | None = None
        self.grad_cb_used = False
        self.experiment_timestamp = datetime.datetime.fromtimestamp(time.time()).strftime(
            "%Y-%m-%d_%H-%M-%S"
        )
        self.trainer: Trainer | None = None
        self.num_epochs = 0
        self.num_iterations = 0
        self.grad_accumulation = 1
        self.before_backward = False
        self.in_step = False
        self.loss_accum_tensors: list[torch.Tensor] = []

    # ------------------------------------------------------------------ model

    @property
    def model(self) -> Any:
        """The ``TTModel`` being trained (also the engine's ``state.model``)."""
        return self._model

    @model.setter
    def model(self, model: torch.nn.Module) -> None:
        _check_model(model)
        self._model = model
        if self.trainer is not None:
            self.trainer.state.model = model
            self.trainer.task.model = model

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The torch optimizers (one, or those of a ``MultiOptimizer``)."""
        if isinstance(self.optimizer, MultiOptimizer):
            return list(self.optimizer.optimizer_list)
        return [self.optimizer]

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        num_epochs: int = 0,
        num_iterations: int = 0,
        callbacks: Sequence[object] | None = None,
        grad_accumulation: int = 1,
        **kwargs: Any,
    ) -> Any:
        """Train for ``num_epochs`` epochs in all, or ``num_iterations`` batches; return the model.

        ``callbacks`` holds aitoolbox callbacks and may also hold native unitrain plugins
        (any other object); all run in the one order. Epochs continue from where a
        previous ``fit`` (or ``ModelLoadContinueTraining``) left ``epoch``.
        """
        if kwargs:
            raise ConfigError(
                f"TrainLoop.fit got {sorted(kwargs)}: the multi-GPU keyword arguments of "
                "aitoolbox are not supported by the compat loop (see gpu_mode)"
            )
        max_epochs, max_steps = _length(num_epochs, num_iterations, grad_accumulation)
        self.num_epochs, self.num_iterations = num_epochs, num_iterations
        self.grad_accumulation = grad_accumulation
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size > 1:
            raise ConfigError(
                f"TrainLoop.fit: WORLD_SIZE={world_size}, but the compat "
                "aitoolbox loop runs one process (its TTModel.get_loss bypasses a DDP "
                "wrapper's forward, so gradients would not be synchronised); run it in a "
                "single process, or port the model to unitrain.Task for distributed training"
            )
        trainer = self._build_trainer(max_epochs, max_steps, grad_accumulation)
        self.register_callbacks(callbacks)
        if self.use_amp:
            trainer.add_plugin(amp_plugin(self))
        for plugin in self.native_plugins:
            trainer.add_plugin(plugin)
        for callback in self.callbacks:
            trainer.add_plugin(make_plugin(callback, self))
        if self.print_callbacks:
            self.print_registered_callback_names()
        evals: dict[str, Any] = {}
        if self.end_auto_eval:
            evals["train"] = LoaderView(self, "train_loader")
            if self.validation_loader is not None:
                evals["val"] = LoaderView(self, "validation_loader")
        trainer.fit(LoaderView(self, "train_loader"), eval_data=evals or None)
        return self.model

    __call__ = fit

    def register_callbacks(self, callbacks: Sequence[object] | None) -> None:
        """Give each aitoolbox callback this loop (running its registration hook); keep
        other objects as native unitrain plugins."""
        for callback in callbacks or ():
            if isinstance(callback, AbstractCallback):
                callback.register_train_loop_object(self)
                self.callbacks.append(callback)
            else:
                self.native_plugins.append(callback)

    def ensure_trainer(self) -> Trainer:
        """The engine of the latest fit, or one made for prediction before any fit."""
        if self.trainer is None:
            return self._build_trainer(1, None, 1)
        return self.trainer

    def _build_trainer(
        self, max_epochs: int | None, max_steps: int | None, accumulation: int
    ) -> Trainer:
        eval_every = None
        if self.end_auto_eval:
            eval_every = 1 if self.end_auto_eval is True else int(self.end_auto_eval)
        previous = self.trainer
        trainer = Trainer(
            TTModelTask(self),
            plugins=[EpochReport(self), MessagePurge(self)],
            max_epochs=max_epochs,
            max_steps=max_steps,
            accumulation=accumulation,
            eval_every_epochs=eval_every,
            device=self.device_setting,
        )
        if previous is not None:  # continue the one step vocabulary across fits
            old, new = previous.state, trainer.state
            new.epoch, new.global_step, new.micro_step = old.epoch, old.global_step, old.micro_step
        self.trainer = trainer
        return trainer

    # ------------------------------------------------------------------ helpers callbacks use

    def insert_metric_result_into_history(self, metric_name: str, metric_result: Any) -> None:
        """Append one epoch's value of ``metric_name`` to ``train_history``."""
        self.train_history.insert_single_result_into_history(metric_name, metric_result)

    def get_schedulers(self) -> list[AbstractCallback]:
        """The registered scheduler callbacks."""
        return [cb for cb in self.callbacks if getattr(cb, "is_lr_scheduler", False)]

    def get_num_training_steps(self) -> int:
        """Optimizer steps the current fit will make (for warm-up schedulers)."""
        if self.num_iterations:
            return self.num_iterations // self.grad_accumulation
        return math.ceil(len(self.train_loader) / self.grad_accumulation) * self.num_epochs

    def callback_names(self, seed_hook: str) -> list[str]:
        """Names of the callbacks that implement ``seed_hook``, in execution order."""
        implementing = [cb for cb in self.callbacks if seed_hook in overridden_hooks(type(cb))]
        return [cb.callback_name for cb in sorted(implementing, key=lambda c: c.execution_order)]

    def print_registered_callback_names(self) -> None:
        """Print, for each hook, the callbacks that run there in execution order."""
        print("Registered callbacks by hook (in execution order):")
        for hook in SEED_HOOKS:
            names = self.callback_names(hook)
            if names:
                print(f"  {hook}: {', '.join(names)}")


def _check_model(model: object) -> None:
    missing = [name for name in _MODEL_METHODS if not callable(getattr(model, name, None))]
    if not isinstance(model, torch.nn.Module) or missing:
        raise ConfigError(
            f"TrainLoop(model=...): expected a TTModel or ModelWrap (an nn.Module with "
            f"get_loss, get_loss_eval and get_predictions), got {type(model).__name__}"
            + (f" without {', '.join(missing)}" if missing else "")
            + "; subclass unitrain.compat.aitoolbox.TTModel or wrap a plain module with "
            "ModelWrap(model, feed_definition)"
        )


def _device_setting(device: str | torch.device | None, cuda_device_idx: int | None) -> str:
    if device is not None:
        return str(device)
    if torch.cuda.is_available():
        return "cuda" if cuda_device_idx is None else f"cuda:{cuda_device_idx}"
    return "cpu"


def _length(
    num_epochs: int, num_iterations: int, accumulation: int
) -> tuple[int | None, int | None]:
    if isinstance(accumulation, bool) or not isinstance(accumulation, int) or accumulation < 1:
        raise ConfigError(f"TrainLoop.fit(grad_accumulation={accumulation!r}): must be an int >= 1")
    if (num_epochs > 0) == (num_iterations > 0):
        raise ConfigError(
            f"TrainLoop.fit(num_epochs={num_epochs}, num_iterations={num_iterations}): give "
            "exactly one of them, > 0"
        )
    if num_iterations > 0:
        if num_iterations % accumulation:
            raise ConfigError(
                f"TrainLoop.fit(num_iterations={num_iterations}, grad_accumulation="
                f"{accumulation}): num_iterations must be a multiple of grad_accumulation, "
                "so the fit ends on an optimizer step"
            )
        return None, num_iterations // accumulation
    return num_epochs, None
