"""The engine: owns the state and the plugins, and runs the loop of :mod:`.loop`.

It knows nothing of its extensions. Exact resume, checkpoint extras and distributed training
reach the loop only through hooks of :mod:`unitrain.hooks.specs` (``make_epoch_batches``,
``on_train_batches_end``, ``on_before_save_checkpoint``, ``on_before_load_checkpoint`` ...);
:class:`unitrain.Trainer` (:mod:`unitrain.trainer`) is this engine with those plugins
registered and ``devices=`` / ``strategy=`` / ``resume=`` wired in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import torch

from unitrain.core.config import TrainerConfig, make_config, run_settings
from unitrain.core.data import Loader, make_eval_loaders, make_loader
from unitrain.core.keys import HOOK_TIMER, PLUGINS
from unitrain.core.loop import fit_loop
from unitrain.core.multi_step import optimization_of
from unitrain.core.passes import evaluation_pass, prediction_pass
from unitrain.core.schedule import as_scheduled
from unitrain.core.state import State
from unitrain.core.window import clear_gradients, is_optimizer
from unitrain.errors import ConfigError, StageError
from unitrain.hooks.manager import PluginManager, RankRule, describe_position
from unitrain.hooks.specs import Hooks

__all__ = ["Engine"]


class Engine:
    """Runs a task's training, evaluation and prediction with plugins around it.

    ``task`` is a plugin that supplies the default stages and owns ``model`` (see
    :class:`unitrain.Task`). Settings are validated all at once before anything runs
    (see :class:`~unitrain.core.config.TrainerConfig`). Use :class:`unitrain.Trainer`, which
    adds exact resume and distributed training to this engine.
    """

    def __init__(
        self,
        task: Any,
        *,
        plugins: Iterable[object] = (),
        max_epochs: int | None = None,
        max_steps: int | None = None,
        accumulation: int = 1,
        eval_every_epochs: int | None = 1,
        eval_every_steps: int | None = None,
        limit_train_batches: int | None = None,
        limit_eval_batches: int | None = None,
        overfit_batches: int | None = None,
        fast_dev_run: bool | int = False,
        max_time: float | timedelta | str | None = None,
        deterministic: bool = False,
        device: str | torch.device | None = None,
    ) -> None:
        #: the settings as given; ``config`` is what the loop runs by (see run_settings)
        self.settings: TrainerConfig = make_config(
            max_epochs=max_epochs,
            max_steps=max_steps,
            accumulation=accumulation,
            eval_every_epochs=eval_every_epochs,
            eval_every_steps=eval_every_steps,
            limit_train_batches=limit_train_batches,
            limit_eval_batches=limit_eval_batches,
            overfit_batches=overfit_batches,
            fast_dev_run=fast_dev_run,
            max_time=max_time,
            deterministic=deterministic,
            device=None if device is None else str(device),
        )
        self.config: TrainerConfig = run_settings(self.settings)
        self.fit_deadline: float | None = None
        self.held_loss: Any = None  # the last step's loss, during an epoch (core.loop)
        model = getattr(task, "model", None)
        if not isinstance(model, torch.nn.Module):
            raise ConfigError(
                f"Trainer(task=...): the task must have a `model` attribute holding a "
                f"torch.nn.Module, got {type(model).__name__} on {type(task).__name__}; "
                "use unitrain.Task(model, ...) or a subclass of it"
            )
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.state = State(
            max_epochs=self.config.max_epochs,
            max_steps=self.config.max_steps,
            accumulation=self.config.accumulation,
            rank=rank,
            local_rank=local_rank,
            world_size=int(os.environ.get("WORLD_SIZE", "1")),
            device=_resolve_device(self.config.device),
            dry_run=bool(self.config.fast_dev_run),
            model=model,
        )
        self.task = task
        self.plugins = PluginManager(rank=rank, local_rank=local_rank)
        self.plugins.state = self.state
        self.state.stash[HOOK_TIMER] = self.plugins.timer
        self.state.stash[PLUGINS] = self.plugins
        self.plugins.register(task, name="task")
        for plugin in plugins:
            self.plugins.register(plugin)

    @property
    def hooks(self) -> Hooks:
        """The typed hook facade: ``trainer.hooks.on_fit_start(state)``."""
        return self.plugins.hooks

    def add_plugin(
        self,
        plugin: object,
        name: str | None = None,
        *,
        order: int | None = None,
        ranks: RankRule | None = None,
    ) -> str | None:
        """Register one more plugin; see :meth:`PluginManager.register`."""
        return self.plugins.register(plugin, name, order=order, ranks=ranks)

    # ----------------------------------------------------------- entry points

    def fit(self, train_data: object, eval_data: object = None) -> State:
        """Train on ``train_data``, evaluating ``eval_data`` (one loader or ``{split: loader}``)."""
        train = make_loader(train_data, "train_data", train=True)
        return self.fit_loaders(train, make_eval_loaders(eval_data))

    def fit_loaders(self, train: Loader, evals: dict[str, Loader]) -> State:
        """:meth:`fit` on loaders already made (and, in a distributed run, sharded)."""
        self._enter(fit_loop, self, train, evals)
        return self.state

    def evaluate(self, data: object, split: str = "eval") -> dict[str, float]:
        """One evaluation pass over ``data``; returns the averaged losses and metrics."""
        return self.evaluate_loader(make_loader(data, f"evaluate({split!r})", train=False), split)

    def evaluate_loader(self, loader: Loader, split: str) -> dict[str, float]:
        """:meth:`evaluate` on a loader already made."""
        result: dict[str, float] = self._enter(evaluation_pass, self, split, loader)
        return result

    def predict(self, data: object) -> list[Any]:
        """One prediction pass; returns the predictions of each batch, in order."""
        return self.predict_loader(make_loader(data, "predict(data)", train=False))

    def predict_loader(self, loader: Loader) -> list[Any]:
        """:meth:`predict` on a loader already made."""
        result: list[Any] = self._enter(prediction_pass, self, loader)
        return result

    # ----------------------------------------------------------- helpers for the loop

    def make_optimizers(self) -> None:
        """Ask the providers for optimizers and schedulers, once per trainer.

        The engine steps the schedulers itself (see :mod:`unitrain.core.schedule`)."""
        state = self.state
        # how the steps optimize (unitrain.core.multi_step): the task's choice, checked
        state.optimization = optimization_of(self.task)
        if state.optimizers:
            return
        assert state.model is not None
        made = self.hooks.make_optimizer(state, state.model)
        if made is None:
            raise StageError(
                "no plugin made an optimizer: pass optimizer= to unitrain.Task "
                "(an optimizer or a function of the parameters), or implement make_optimizer"
            )
        many = not is_optimizer(made) and isinstance(made, Iterable)
        optimizers: tuple[Any, ...] = tuple(made) if many else (made,)  # type: ignore[arg-type]
        if not optimizers or not all(is_optimizer(o) for o in optimizers):
            raise StageError(
                f"make_optimizer returned {made!r}; expected optimizer(s): torch optimizers, "
                "or objects with callable step() and zero_grad()"
            )
        state.optimizers = optimizers
        self.plugins.plans.clear()  # the step's plan names the lone optimizer (core.plan)
        for index, optimizer in enumerate(optimizers):
            clear_gradients(optimizer)
            scheduler = self.hooks.make_scheduler(state, optimizer, index)
            if scheduler is not None:
                state.schedulers.append(as_scheduled(scheduler))

    def length_reached(self) -> bool:
        """True when ``max_epochs`` or ``max_steps`` is reached."""
        max_epochs = self.config.max_epochs
        return (max_epochs is not None and self.state.epoch >= max_epochs) or self.steps_reached()

    def steps_reached(self) -> bool:
        """True when ``max_steps`` is reached."""
        max_steps = self.config.max_steps
        return max_steps is not None and self.state.global_step >= max_steps

    def _enter(self, entry: Any, *args: Any) -> Any:
        state = self.state
        assert state.model is not None
        outer = state.phase  # "idle", unless a plugin evaluates or predicts during a fit
        state.model.to(state.device)
        try:
            return entry(*args)
        except BaseException as error:
            if not getattr(error, "_unitrain_noted", False):
                error.add_note(f"unitrain: raised in the loop ({describe_position(state)})")
            if outer == "idle":  # a nested call leaves on_exception to the outer one
                self.plugins.notify_exception(state, error)
            raise
        finally:
            state.phase = outer

    # ----------------------------------------------------------- checkpoint content

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizers, schedulers, loop position and what the plugins add.

        ``on_before_save_checkpoint`` fires first, with the empty dict (random states are
        captured there, before any ``state_dict`` call may draw random numbers), then the
        engine puts its entries in, then ``on_save_checkpoint`` fires."""
        state = self.state
        assert state.model is not None
        checkpoint: dict[str, Any] = {"plugins": {}}
        self.hooks.on_before_save_checkpoint(state, checkpoint)
        checkpoint.update(
            {
                "model": state.model.state_dict(),
                "optimizers": [o.state_dict() for o in state.optimizers],
                "schedulers": [s.scheduler.state_dict() for s in state.schedulers],
                "position": {
                    "epoch": state.epoch,
                    "batch_idx": state.batch_idx,
                    "global_step": state.global_step,
                    "micro_step": state.micro_step,
                },
            }
        )
        self.hooks.on_save_checkpoint(state, checkpoint)
        return checkpoint

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` produced (optimizers are made first if needed).

        ``on_before_load_checkpoint`` fires before anything is loaded (a plugin refuses a
        checkpoint there), ``on_load_checkpoint`` after the engine's entries are back."""
        state = self.state
        assert state.model is not None
        self.hooks.on_before_load_checkpoint(state, checkpoint)
        state.model.load_state_dict(checkpoint["model"])
        state.model.to(state.device)
        self.make_optimizers()
        for optimizer, saved in zip(state.optimizers, checkpoint["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(state.schedulers, checkpoint["schedulers"], strict=True):
            scheduler.scheduler.load_state_dict(saved)
        for key, value in checkpoint["position"].items():
            setattr(state, key, int(value))
        self.hooks.on_load_checkpoint(state, checkpoint)


def _resolve_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ConfigError(f"device={device!r} is not a torch device ({error})") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} asks for CUDA, but torch sees no CUDA device")
    return resolved
