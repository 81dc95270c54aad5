"""Learning-rate schedulers as callbacks (aitoolbox's ``AbstractScheduler`` family).

Each callback builds its scheduler(s) at registration (one per optimizer, or only for
``optimizer_idx``) and is their only owner: it steps them at epoch end, or after each
update iteration for the batch-stepped warm-up schedules. Their state goes into aitoolbox
checkpoints (``schedulers_state_dict``) and into engine checkpoints through the adapter.
The warm-up formulas are those of Hugging Face ``transformers``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.optim import lr_scheduler

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.errors import ConfigError

__all__ = [
    "AbstractScheduler",
    "ConstantWithWarmupScheduler",
    "CosineWithWarmupScheduler",
    "GeneralLRSchedulerCallback",
    "HardRestartsCosineWithWarmupScheduler",
    "LambdaLRScheduler",
    "LinearWithWarmupScheduler",
    "MultiStepLRScheduler",
    "ReduceLROnPlateauMetricScheduler",
    "ReduceLROnPlateauScheduler",
    "StepLRScheduler",
]


class AbstractScheduler(AbstractCallback):
    """A callback that owns learning-rate scheduler(s) and steps them."""

    is_lr_scheduler = True

    def __init__(
        self,
        scheduler_name: str,
        execute_epoch_end: bool = True,
        execute_batch_end: bool = False,
        optimizer_idx: int | None = None,
    ) -> None:
        super().__init__(scheduler_name)
        self.execute_epoch_end = execute_epoch_end
        self.execute_batch_end = execute_batch_end
        self.optimizer_idx = optimizer_idx
        self.schedulers: list[Any] = []

    @property
    def scheduler(self) -> Any:
        """The (first) scheduler."""
        return self.schedulers[0] if self.schedulers else None

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        """Make the scheduler for one optimizer."""
        raise NotImplementedError

    def on_train_loop_registration(self) -> None:
        if self.train_loop_obj.optimizers():
            self.build_schedulers()

    def on_train_begin(self) -> None:
        # On a native Trainer the optimizers exist only once the fit starts.
        if not self.schedulers:
            self.build_schedulers()

    def build_schedulers(self) -> None:
        """Make the scheduler(s) for the loop's optimizer(s)."""
        optimizers = self.train_loop_obj.optimizers()
        if self.optimizer_idx is not None:
            if not 0 <= self.optimizer_idx < len(optimizers):
                raise ConfigError(
                    f"{self.callback_name}(optimizer_idx={self.optimizer_idx}): the loop has "
                    f"{len(optimizers)} optimizer(s)"
                )
            optimizers = [optimizers[self.optimizer_idx]]
        self.schedulers = [self.build_scheduler(optimizer) for optimizer in optimizers]

    def step(self) -> None:
        """Step every scheduler once."""
        for scheduler in self.schedulers:
            scheduler.step()

    def on_epoch_end(self) -> None:
        if self.execute_epoch_end:
            self.step()

    def on_batch_end(self) -> None:
        if self.execute_batch_end and self.train_loop_obj.should_execute_optimizer_update():
            self.step()

    def state_dict(self) -> dict[str, Any]:
        """Every scheduler's state (plain data)."""
        return {"schedulers": [scheduler.state_dict() for scheduler in self.schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (or one scheduler's bare state dict)."""
        states = state_dict.get("schedulers", [state_dict])
        if len(states) != len(self.schedulers):
            raise ConfigError(
                f"{self.callback_name}: saved state has {len(states)} scheduler(s), the "
                f"callback has {len(self.schedulers)}"
            )
        for scheduler, state in zip(self.schedulers, states, strict=True):
            scheduler.load_state_dict(state)


class GeneralLRSchedulerCallback(AbstractScheduler):
    """Any torch scheduler class: ``scheduler_class(optimizer, **kwargs)``, stepped per epoch."""

    def __init__(
        self, scheduler_class: type[Any], optimizer_idx: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(f"General LR scheduler ({scheduler_class.__name__})")
        self.optimizer_idx = optimizer_idx
        self.scheduler_class = scheduler_class
        self.kwargs = kwargs

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        return self.scheduler_class(optimizer, **self.kwargs)


class StepLRScheduler(GeneralLRSchedulerCallback):
    """``StepLR``: multiply the LR by ``gamma`` every ``step_size`` epochs."""

    def __init__(
        self, step_size: int, gamma: float = 0.1, optimizer_idx: int | None = None
    ) -> None:
        super().__init__(lr_scheduler.StepLR, optimizer_idx, step_size=step_size, gamma=gamma)


class MultiStepLRScheduler(GeneralLRSchedulerCallback):
    """``MultiStepLR``: multiply the LR by ``gamma`` at each milestone epoch."""

    def __init__(
        self, milestones_list: Sequence[int], gamma: float = 0.1, optimizer_idx: int | None = None
    ) -> None:
        super().__init__(
            lr_scheduler.MultiStepLR, optimizer_idx, milestones=list(milestones_list), gamma=gamma
        )


class LambdaLRScheduler(AbstractScheduler):
    """``LambdaLR`` stepped at epoch end and/or after each update iteration."""

    def __init__(
        self,
        lr_lambda_list: Callable[[int], float] | Sequence[Callable[[int], float]],
        execute_epoch_end: bool = True,
        execute_batch_end: bool = False,
        optimizer_idx: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__("LambdaLR scheduler", execute_epoch_end, execute_batch_end, optimizer_idx)
        if not (execute_epoch_end or execute_batch_end):
            raise ConfigError("LambdaLRScheduler: set execute_epoch_end or execute_batch_end")
        self.lr_lambda_list = lr_lambda_list
        self.kwargs = kwargs  # more LambdaLR arguments, e.g. last_epoch when resuming

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        return lr_scheduler.LambdaLR(optimizer, self.lr_lambda_list, **self.kwargs)  # type: ignore[arg-type]


class _WarmupScheduler(LambdaLRScheduler):
    """A LambdaLR warm-up schedule over optimizer steps (``num_training_steps`` defaults to
    the loop's ``get_num_training_steps()``)."""

    def __init__(
        self,
        num_warmup_steps: int,
        num_training_steps: int | None = None,
        last_epoch: int = -1,
        optimizer_idx: int | None = None,
        **kwargs: Any,
    ) -> None:
        if num_warmup_steps < 0:
            raise ConfigError(f"{type(self).__name__}(num_warmup_steps={num_warmup_steps}): >= 0")
        self.num_warmup_steps = num_warmup_steps
        self.num_training_steps = num_training_steps
        super().__init__(self._factor, False, True, optimizer_idx, last_epoch=last_epoch, **kwargs)
        self.callback_name = type(self).__name__

    def build_schedulers(self) -> None:
        if self.num_training_steps is None:
            self.num_training_steps = self.train_loop_obj.get_num_training_steps()
        super().build_schedulers()

    def warmup(self, step: int) -> float | None:
        """The warm-up factor, or ``None`` after the warm-up."""
        if step < self.num_warmup_steps:
            return float(step) / float(max(1, self.num_warmup_steps))
        return None

    def progress(self, step: int) -> float:
        """Fraction of the post-warm-up steps done."""
        total = int(self.num_training_steps or 0)
        return float(step - self.num_warmup_steps) / float(max(1, total - self.num_warmup_steps))

    def _factor(self, step: int) -> float:
        raise NotImplementedError


class ConstantWithWarmupScheduler(_WarmupScheduler):
    """Linear warm-up to the base LR, then constant."""

    def __init__(
        self,
        num_warmup_steps: int,
        last_epoch: int = -1,
        optimizer_idx: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_warmup_steps, 0, last_epoch, optimizer_idx, **kwargs)

    def _factor(self, step: int) -> float:
        warm = self.warmup(step)
        return 1.0 if warm is None else warm


class LinearWithWarmupScheduler(_WarmupScheduler):
    """Linear warm-up, then linear decay to 0 at ``num_training_steps``."""

    def _factor(self, step: int) -> float:
        warm = self.warmup(step)
        return warm if warm is not None else max(0.0, 1.0 - self.progress(step))


class CosineWithWarmupScheduler(_WarmupScheduler):
    """Linear warm-up, then cosine decay (``num_cycles`` half-waves, 0.5 = down to 0)."""

    def __init__(
        self,
        num_warmup_steps: int,
        num_training_steps: int | None = None,
        num_cycles: float = 0.5,
        last_epoch: int = -1,
        optimizer_idx: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.num_cycles = num_cycles
        super().__init__(num_warmup_steps, num_training_steps, last_epoch, optimizer_idx, **kwargs)

    def _factor(self, step: int) -> float:
        warm = self.warmup(step)
        if warm is not None:
            return warm
        cosine = math.cos(math.pi * float(self.num_cycles) * 2.0 * self.progress(step))
        return max(0.0, 0.5 * (1.0 + cosine))


class HardRestartsCosineWithWarmupScheduler(_WarmupScheduler):
    """Linear warm-up, then ``num_cycles`` cosine decays with hard restarts."""

    def __init__(
        self,
        num_warmup_steps: int,
        num_training_steps: int | None = None,
        num_cycles: int = 1,
        last_epoch: int = -1,
        optimizer_idx: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.num_cycles = num_cycles
        super().__init__(num_warmup_steps, num_training_steps, last_epoch, optimizer_idx, **kwargs)

    def _factor(self, step: int) -> float:
        warm = self.warmup(step)
        if warm is not None:
            return warm
        progress = self.progress(step)
        if progress >= 1.0:
            return 0.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((self.num_cycles * progress) % 1.0))))


class ReduceLROnPlateauScheduler(AbstractScheduler):
    """``ReduceLROnPlateau`` on the validation loss (``main_multi_loss`` picks a MultiLoss part).

    The loss comes from the epoch's automatic evaluation when there was one, else it is
    evaluated here.
    """

    def __init__(self, main_multi_loss: str | None = None, **kwargs: Any) -> None:
        super().__init__("ReduceLROnPlateau scheduler")
        self.main_multi_loss = main_multi_loss
        self.kwargs = kwargs

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        return lr_scheduler.ReduceLROnPlateau(optimizer, **self.kwargs)

    def on_epoch_end(self) -> None:
        loss = self.train_loop_obj.evaluate_loss_on_validation_set()
        if isinstance(loss, Mapping):
            if self.main_multi_loss is None:
                raise ConfigError(
                    "ReduceLROnPlateauScheduler: the validation loss is a MultiLoss "
                    f"({sorted(loss)}); pass main_multi_loss= to pick the one to monitor"
                )
            loss = loss[self.main_multi_loss]
        for scheduler in self.schedulers:
            scheduler.step(loss)


class ReduceLROnPlateauMetricScheduler(AbstractScheduler):
    """``ReduceLROnPlateau`` on the latest value of ``train_history[metric_name]``."""

    def __init__(self, metric_name: str, **kwargs: Any) -> None:
        super().__init__("ReduceLROnPlateau metric scheduler")
        self.metric_name = metric_name
        self.kwargs = kwargs

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        return lr_scheduler.ReduceLROnPlateau(optimizer, **self.kwargs)

    def on_epoch_end(self) -> None:
        history = self.train_loop_obj.train_history
        if self.metric_name not in history or not history[self.metric_name]:
            raise ConfigError(
                f"ReduceLROnPlateauMetricScheduler: {self.metric_name!r} has no value in "
                f"train_history (it holds {sorted(k for k, v in history.items() if v)}); a "
                "callback with a lower execution_order must write it"
            )
        for scheduler in self.schedulers:
            scheduler.step(history[self.metric_name][-1])
