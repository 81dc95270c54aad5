"""``TrainLoop``: aitoolbox's train loop, built on (and running) the one unitrain engine.

``fit`` makes a :class:`unitrain.Trainer` whose task calls the ``TTModel``
(:mod:`.stages`), registers each callback as a plugin (:mod:`.adapter`) next to any native
unitrain plugin, and runs the engine. With ``end_auto_eval`` the engine evaluates the train
and validation sets at each epoch's end (splits ``"train"`` and ``"val"``), and the
results land in ``train_history`` before the callbacks' ``on_epoch_end``.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.compat.aitoolbox.adapter import make_plugin
from unitrain.compat.aitoolbox.facade import EngineView, disabled_scaler
from unitrain.compat.aitoolbox.handler import CallbacksHandler
from unitrain.compat.aitoolbox.history import TrainingHistory
from unitrain.compat.aitoolbox.loop_events import EpochReport, MessagePurge
from unitrain.compat.aitoolbox.loop_setup import (
    check_model,
    check_optimizer,
    device_setting,
    fit_length,
)
from unitrain.compat.aitoolbox.messages import MessageService
from unitrain.compat.aitoolbox.model import ModelWrap
from unitrain.compat.aitoolbox.multi_loss import MultiOptimizer
from unitrain.compat.aitoolbox.precision import amp_plugin, check_amp
from unitrain.compat.aitoolbox.prediction_store import ModelPredictionStore
from unitrain.compat.aitoolbox.predictions import (
    LoaderView,
    PredictionPasses,
    append_predictions,
    torch_cat_transf,
)
from unitrain.compat.aitoolbox.stages import TTModelTask
from unitrain.errors import ConfigError
from unitrain.trainer import Trainer

__all__ = ["TrainLoop"]


class TrainLoop(EngineView, PredictionPasses):
    """Train a ``TTModel`` (or ``ModelWrap``) with aitoolbox callbacks on the unitrain engine.

    ``optimizer`` may be a torch optimizer, a ``MultiOptimizer``, any object with ``step``
    and ``zero_grad``, or ``None`` for a loop that only predicts and evaluates. Extra
    keyword arguments beyond the seed's: ``device`` (a torch device string; default:
    ``cuda:<cuda_device_idx>`` when CUDA is available, else CPU), ``plugins`` (native unitrain
    plugins for every fit) and ``print_epoch_losses`` (print the epoch's losses, default
    True as in aitoolbox). ``gpu_mode="dp"`` / ``"ddp"`` are refused at ``fit``: launch the
    script under ``torchrun`` for several processes.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        train_loader: Any,
        validation_loader: Any,
        test_loader: Any,
        optimizer: Any,
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
        check_model(model)
        check_optimizer(optimizer)
        # As in aitoolbox, a ModelWrap is taken apart: the loop trains (and returns, and
        # saves) the plain module, fed by the wrap's feed definition.
        self.batch_model_feed_def: Any = None
        if isinstance(model, ModelWrap):
            model, self.batch_model_feed_def = model.model, model.batch_model_feed_def
        if gpu_mode not in ("single", "dp", "ddp"):
            raise ConfigError(f"TrainLoop(gpu_mode={gpu_mode!r}): expected 'single', 'dp' or 'ddp'")
        if not isinstance(end_auto_eval, bool) and (
            not isinstance(end_auto_eval, int) or end_auto_eval < 1
        ):
            raise ConfigError(
                f"TrainLoop(end_auto_eval={end_auto_eval!r}): expected True, False or an int "
                "N >= 1 (evaluate every N epochs)"
            )
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
        self.device_setting = device_setting(device, cuda_device_idx)
        self.use_amp = check_amp(use_amp, self.device_setting)
        self.amp_settings = use_amp
        self.amp_scaler_state: dict[str, Any] | None = None  # restored into the new scaler
        self.idle_scaler = disabled_scaler()
        self.native_plugins: list[object] = list(plugins)
        self.callbacks: list[AbstractCallback] = []
        self.callbacks_handler = CallbacksHandler(self)
        self.train_history = TrainingHistory(has_validation=validation_loader is not None)
        self.message_service = MessageService()
        self.prediction_store = ModelPredictionStore(auto_purge=True)
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
        self.in_epoch = False
        self.next_epoch: int | None = None
        self.fit_start_epoch = 0
        self.iteration_shift = 0
        self.idle_iteration = 0
        self.idle_early_stop = False
        self.iterations_end: int | None = None
        self.loss_accum_tensors: list[Any] = []

    # ------------------------------------------------------------------ model

    @property
    def model(self) -> Any:
        """The ``TTModel`` being trained (also the engine's ``state.model``)."""
        return self._model

    @model.setter
    def model(self, model: torch.nn.Module) -> None:
        if self.batch_model_feed_def is None:
            check_model(model)
        self._model = model
        if self.trainer is not None:
            self.trainer.state.model = model
            self.trainer.task.model = model

    def optimizers(self) -> list[Any]:
        """The optimizers (one, or those of a ``MultiOptimizer``); none for a predict loop."""
        if self.optimizer is None:
            return []
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
        """Train until epoch ``num_epochs`` (from ``epoch``), or for ``num_iterations``
        batches; return the model.

        ``callbacks`` holds aitoolbox callbacks and may also hold native unitrain plugins
        (any other object); all run in the one order. As in aitoolbox, ``gpu_mode`` picks
        ``_train`` / ``_train_dp`` / ``_train_ddp``.
        """
        if self.gpu_mode == "dp":
            return self._train_dp(
                num_epochs, num_iterations, callbacks, grad_accumulation, **kwargs
            )
        if self.gpu_mode == "ddp":
            return self._train_ddp(
                num_epochs, num_iterations, callbacks, grad_accumulation, **kwargs
            )
        if kwargs:
            raise ConfigError(
                f"TrainLoop.fit got {sorted(kwargs)}: those are the multi-GPU keyword "
                "arguments of gpu_mode='dp' / 'ddp'"
            )
        return self._train(num_epochs, num_iterations, callbacks, grad_accumulation)

    __call__ = fit

    def _train_dp(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError(
            "TrainLoop(gpu_mode='dp'): the compat train loop runs one process per device; "
            "launch the script with torchrun (the unitrain engine reads RANK / WORLD_SIZE), "
            "or use gpu_mode='single'"
        )

    _train_ddp = _train_dp

    def _train(
        self,
        num_epochs: int,
        num_iterations: int,
        callbacks: Sequence[object] | None = None,
        grad_accumulation: int = 1,
    ) -> Any:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size > 1:
            raise ConfigError(
                f"TrainLoop.fit: WORLD_SIZE={world_size}, but the compat aitoolbox loop runs "
                "one process (its TTModel.get_loss bypasses a DDP wrapper's forward, so "
                "gradients would not be synchronised); wrap the model in "
                "TTDistributedDataParallel in your own script, or port it to unitrain.Task"
            )
        max_epochs = fit_length(num_epochs, num_iterations, grad_accumulation, self.train_loader)
        self.num_epochs, self.num_iterations = max_epochs, num_iterations
        self.grad_accumulation = grad_accumulation
        # Registration first: a callback may set `epoch` (ModelLoadContinueTraining), which
        # the new engine starts from.
        self.register_callbacks(callbacks)
        trainer = self._build_trainer(max_epochs)
        self.iterations_end = trainer.state.micro_step + num_iterations if num_iterations else None
        if self.criterion is not None and callable(getattr(self.criterion, "to", None)):
            self.criterion = self.criterion.to(trainer.state.device)
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
        trainer.fit(
            LoaderView(self, "train_loader", self._iterations_left), eval_data=evals or None
        )
        return self.model

    def _iterations_left(self) -> int | None:
        if self.iterations_end is None or self.trainer is None:
            return None
        return self.iterations_end - self.trainer.state.micro_step

    def register_callbacks(self, callbacks: Sequence[object] | None) -> None:
        """Register the aitoolbox callbacks through the handler; keep other objects as
        native unitrain plugins."""
        native = [cb for cb in callbacks or () if not isinstance(cb, AbstractCallback)]
        self.native_plugins += native
        ours = [cb for cb in callbacks or () if isinstance(cb, AbstractCallback)]
        self.callbacks_handler.register_callbacks(ours)

    def ensure_trainer(self) -> Trainer:
        """The engine of the latest fit, or one made for prediction before any fit."""
        if self.trainer is None:
            return self._build_trainer(1)
        return self.trainer

    def _build_trainer(self, max_epochs: int) -> Trainer:
        eval_every = None
        if self.end_auto_eval:
            eval_every = 1 if self.end_auto_eval is True else int(self.end_auto_eval)
        previous = self.trainer
        trainer = Trainer(
            TTModelTask(self),
            plugins=[EpochReport(self), MessagePurge(self)],
            max_epochs=max_epochs,
            accumulation=self.grad_accumulation,
            eval_every_epochs=eval_every,
            device=self.device_setting,
        )
        if previous is not None:  # continue the one step vocabulary across fits
            old, new = previous.state, trainer.state
            new.epoch, new.global_step, new.micro_step = old.epoch, old.global_step, old.micro_step
        if self.next_epoch is not None:  # `train_loop.epoch = k` before fit: start there
            trainer.state.epoch, self.next_epoch = self.next_epoch, None
        self.fit_start_epoch = trainer.state.epoch
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
        """Optimizer steps the current fit makes (for warm-up schedulers), as aitoolbox
        counted them."""
        if self.num_iterations:
            return self.num_iterations // self.grad_accumulation
        return len(self.train_loader) // self.grad_accumulation * self.num_epochs

    def callback_names(self, seed_hook: str) -> list[str]:
        """Names of the callbacks that run at ``seed_hook``, in execution order."""
        from unitrain.compat.aitoolbox.adapter import overridden_hooks

        implementing = [cb for cb in self.callbacks if seed_hook in overridden_hooks(type(cb))]
        return [cb.callback_name for cb in sorted(implementing, key=lambda c: c.execution_order)]

    def print_registered_callback_names(self) -> None:
        """Print, for each hook, the callbacks that run there in execution order."""
        self.callbacks_handler.print_registered_callback_names()
