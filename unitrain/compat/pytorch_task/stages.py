"""The PytorchTask as the engine's task plugin: its template methods mapped onto the stages.

The task answers the stages only when no other plugin does (``unitrain_defaults``), like
the native :class:`unitrain.Task`. A ``PytorchTask`` may be handed to any
:class:`unitrain.Trainer` as its task, beside native plugins and other styles' plugins;
``train()`` / ``test()`` / ``eval_path()`` build that trainer themselves
(:meth:`EngineBinding.make_trainer`, with ``self.plugins``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from unitrain.compat.pytorch_task.logger import Logger
from unitrain.compat.pytorch_task.parts import EngineData, One, batch_size, overrides, tensors
from unitrain.core.data import make_loader
from unitrain.core.passes import evaluation_pass, prediction_pass
from unitrain.core.result import StepResult
from unitrain.errors import ConfigError
from unitrain.hooks.markers import hookimpl, not_a_hook
from unitrain.trainer import Trainer

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["EngineBinding", "EngineData"]


class EngineBinding:
    """Hook implementations and engine helpers shared by the PytorchTask mixins."""

    unitrain_defaults: ClassVar[bool] = True

    model: Any
    device: Any
    epochs: int | None
    criterion: Any
    optimizer: Any
    metric: Any
    plugins: list[object]
    # the seed's template methods, defined by the mixins of PytorchTask
    get_optimizer: Callable[[], Any]
    get_criterion: Callable[[], Any]
    get_metric: Callable[[], Any]
    prepare_train: Callable[[Any], Any]
    forward_train: Callable[[Any], Any]
    backward: Callable[[Any, Any], Any]
    iteration: Callable[[Any], Any]
    epoch: Callable[[Any], None]
    single_test: Callable[[Any], Any]
    eval: Callable[[Any], Any]

    def _engine_init(self) -> None:
        self._state: State | None = None
        self._trainer: Trainer | None = None
        self._train_data: Any = None
        self._whole_iteration = False
        self._epoch_logger: Logger | None = None
        self._epoch_stored = False
        self._eval_logger: Logger | None = None
        self._own_eval_logger = False
        self._epoch_i: int | None = None
        self._iter_i: int | None = None

    # ------------------------------------------------------------------ legacy counters

    @property
    def epoch_i(self) -> int | None:
        """The current epoch (0-based): the engine's ``state.epoch`` during a fit."""
        state = self._state
        return self._epoch_i if state is None else state.epoch

    @epoch_i.setter
    def epoch_i(self, value: int | None) -> None:
        self._epoch_i = value

    @property
    def iter_i(self) -> int | None:
        """The current iteration within the epoch: the engine's ``state.batch_idx``."""
        state = self._state
        if state is None:
            return self._iter_i
        length = state.epoch_length
        return state.batch_idx if length is None else min(state.batch_idx, length - 1)

    @iter_i.setter
    def iter_i(self, value: int | None) -> None:
        self._iter_i = value

    # ------------------------------------------------------------------ building the engine

    def engine_device(self) -> torch.device:
        """``self.device``, or where the model's parameters are."""
        if self.device is not None:
            return torch.device(self.device)
        for parameter in self.model.parameters():
            return torch.device(parameter.device)
        return torch.device("cpu")

    @not_a_hook
    def make_trainer(self, plugins: Iterable[object] = (), **options: Any) -> Trainer:
        """A :class:`unitrain.Trainer` with this task, ``self.plugins`` and ``plugins``.

        ``options`` go to the Trainer; ``max_epochs`` defaults to ``self.epochs``.
        """
        options.setdefault("max_epochs", self.epochs or 1)
        options.setdefault("eval_every_epochs", None)  # the seed validates from epoch()
        options.setdefault("device", str(self.engine_device()))
        trainer = Trainer(self, plugins=[*self.plugins, *plugins], **options)
        self._trainer = trainer
        return trainer

    def fit_on_engine(self, data: Any) -> None:
        """Run ``self.epochs`` epochs over ``data`` on the engine."""
        if self.epochs is None:
            raise ConfigError(
                f"{type(self).__name__}.epochs is None: set self.epochs (the number of "
                "training epochs) before train()"
            )
        self._train_data = data
        self.make_trainer().fit(data)

    def evaluate_on_engine(self, dataset: Any, logger: Logger) -> None:
        """One evaluation pass over ``dataset`` whose per-batch values go to ``logger``."""
        split = "val" if self._state is not None else "test"
        self._eval_logger = logger
        try:
            trainer = self._trainer
            if self._state is not None and trainer is not None and trainer.state is self._state:
                evaluation_pass(trainer, split, make_loader(dataset, split, train=False))
            else:
                self.make_trainer().evaluate(dataset, split)
        finally:
            self._eval_logger = None

    def predict_on_engine(self, sample: Any) -> Any:
        """``self.eval(sample)`` as a one-sample prediction pass of the engine."""
        batch = One((sample,))
        trainer = self._trainer
        if self._state is not None and trainer is not None and trainer.state is self._state:
            return prediction_pass(trainer, make_loader([batch], "eval", train=False))[0]
        return self.make_trainer().predict([batch])[0]

    def finish_engine_epoch(self) -> bool:
        """The base ``epoch()``: store the epoch's losses; False outside a fit."""
        if self._state is None or self._epoch_logger is None:
            return False
        snapshot = getattr(self, "snapshot", None)
        if snapshot is not None:
            self._epoch_logger.store_train(snapshot, epoch_i=self.epoch_i)
        self._epoch_stored = True
        return True

    # ------------------------------------------------------------------ train stages

    @hookimpl
    def make_optimizer(self, state: State, model: torch.nn.Module) -> Any:
        if self.optimizer is None:
            self.optimizer = self.get_optimizer()
        return self.optimizer

    @hookimpl
    def on_fit_start(self, state: State) -> None:
        if state.accumulation > 1:
            raise ConfigError(
                f"{type(self).__name__}: backward() calls loss.backward() itself, so the "
                f"engine cannot scale it for accumulation={state.accumulation}; use "
                "accumulation=1 (or divide the loss yourself in an overridden backward)"
            )
        self._state = state
        cls = type(self)
        if self.criterion is None and overrides(cls, "get_criterion"):
            self.criterion = self.get_criterion()
        self._whole_iteration = overrides(cls, "iteration")

    @hookimpl(tryfirst=True)
    def on_epoch_start(self, state: State) -> None:
        self._epoch_logger = Logger("average")
        self._epoch_stored = False

    @hookimpl
    def run_prepare_batch(self, state: State, batch: Any) -> Any:
        if state.phase == "fit" and not self._whole_iteration:
            return self.prepare_train(batch)
        return batch  # test / eval prepare inside single_test / eval, as in the seed

    @hookimpl
    def run_forward(self, state: State, batch: Any) -> StepResult | None:
        if self._whole_iteration:
            values = self.iteration(batch)
            self._log_step(values)
            return StepResult(metrics=tensors(values), outputs=values, batch_size=batch_size(batch))
        output = self.forward_train(batch)
        return StepResult(outputs=output, targets=batch, batch_size=batch_size(batch))

    @hookimpl
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        if self._whole_iteration:
            return True  # the overridden iteration did its own backward pass
        values = self.backward(result.outputs, result.targets)
        self._log_step(values)
        result.metrics.update(tensors(values))
        if isinstance(values, Mapping) and "loss" in values:
            result.loss = torch.as_tensor(values["loss"]).detach()
        return True

    @hookimpl
    def run_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> bool | None:
        if not self._whole_iteration:
            optimizer.step()
        return True

    @hookimpl
    def on_epoch_end(self, state: State) -> None:
        data = EngineData(self._train_data) if self._train_data is not None else None
        self.epoch(data)

    @hookimpl
    def on_fit_end(self, state: State) -> None:
        self._release(state)

    @hookimpl
    def on_exception(self, state: State, error: BaseException) -> None:
        self._release(state)
        self._eval_logger, self._own_eval_logger = None, False

    def _release(self, state: State) -> None:
        if self._state is not state:
            return
        self._epoch_i = state.epoch - 1 if state.epoch > 0 else None
        self._iter_i = self.iter_i
        self._state = None

    def _log_step(self, values: Any) -> None:
        if self._epoch_logger is not None and isinstance(values, Mapping):
            self._epoch_logger.log(dict(values))

    # ------------------------------------------------------------------ eval and predict

    @hookimpl
    def on_eval_start(self, state: State, split: str) -> None:
        if self._eval_logger is None:  # a pass the engine started (fit eval_data, evaluate)
            self._eval_logger = Logger()
            self._own_eval_logger = True
            if self.metric is None and overrides(type(self), "get_metric"):
                self.metric = self.get_metric()

    @hookimpl
    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        if self._own_eval_logger:
            self._eval_logger, self._own_eval_logger = None, False

    @hookimpl
    def run_eval_step(self, state: State, batch: Any) -> StepResult | None:
        values = self.single_test(batch)
        if self._eval_logger is not None and isinstance(values, Mapping):
            self._eval_logger.log(dict(values))
        return StepResult(metrics=tensors(values), batch_size=batch_size(batch))

    @hookimpl
    def run_predict_step(self, state: State, batch: Any) -> Any:
        sample = batch[0] if isinstance(batch, One) else batch
        return self.eval(sample)
