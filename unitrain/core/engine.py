"""The Trainer: owns the state and the plugins, and runs the loop of :mod:`.loop`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch

from unitrain.core.config import TrainerConfig, make_config
from unitrain.core.data import make_eval_loaders, make_loader
from unitrain.core.keys import HOOK_TIMER
from unitrain.core.loop import run_fit
from unitrain.core.passes import run_evaluation, run_prediction
from unitrain.core.state import State
from unitrain.core.window import clear_gradients, is_optimizer
from unitrain.distributed.trainer import Distributed
from unitrain.errors import ConfigError, StageError
from unitrain.hooks.manager import PluginManager, RankRule, describe_position
from unitrain.hooks.specs import Hooks
from unitrain.plugins.lr_scheduler import ScheduledLR, SchedulerStepper
from unitrain.runs.replay import Replay
from unitrain.runs.resume import resume_fit
from unitrain.runs.trainer_state import STATE_DICT, capture_extras, plugin_states, restore_extras

__all__ = ["Trainer"]


class Trainer:
    """Runs a task's training, evaluation and prediction with plugins around it.

    ``task`` is a plugin that supplies the default stages and owns ``model`` (see
    :class:`unitrain.Task`). Settings are validated all at once before anything runs
    (see :class:`~unitrain.core.config.TrainerConfig`). With several processes,
    ``hang_timeout`` (seconds; ``None``: off) stops every rank when one makes no progress
    for that long (see :mod:`unitrain.distributed.watchdog`).
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
        device: str | torch.device | None = None,
        devices: str | int | None = None,
        strategy: Any = None,
        hang_timeout: float | None = 300.0,
    ) -> None:
        plugins = tuple(plugins)
        # devices="cpu:2" / "cuda:0,1" / torchrun: see unitrain.distributed.trainer; spawned
        # ranks rebuild this trainer from these arguments
        self.distributed = Distributed(devices, strategy, recipe=dict(locals()))
        self.config: TrainerConfig = make_config(
            max_epochs=max_epochs,
            max_steps=max_steps,
            accumulation=accumulation,
            eval_every_epochs=eval_every_epochs,
            eval_every_steps=eval_every_steps,
            limit_train_batches=limit_train_batches,
            device=None if device is None else str(device),
        )
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
            model=model,
        )
        self.task = task
        self.plugins = PluginManager(rank=rank, local_rank=local_rank)
        self.plugins.state = self.state
        self.replay = Replay(self.state)  # the epoch's data order, for exact resume
        self.state.stash[STATE_DICT] = self.state_dict
        self.state.stash[HOOK_TIMER] = self.plugins.timer
        self.plugins.register(task, name="task")
        for plugin in plugins:
            self.plugins.register(plugin)
        self.distributed.setup(self)

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
        self.distributed.added.append((plugin, name, order, ranks))
        return self.plugins.register(plugin, name, order=order, ranks=ranks)

    # ----------------------------------------------------------- entry points

    def fit(
        self,
        train_data: object,
        eval_data: object = None,
        *,
        resume: str | os.PathLike[str] | None = None,
    ) -> State:
        """Train on ``train_data``, evaluating ``eval_data`` (one loader or ``{split: loader}``).

        ``resume``: ``"latest"`` (the newest checkpoint that verifies, found through the
        registered run-store / checkpoint plugins; a fresh start if there is none) or the path
        of a checkpoint, a checkpoints directory or a run directory. See
        :func:`unitrain.runs.resume.resume_fit`.
        """
        if self.distributed.spawns:
            return self.distributed.spawn_fit(self, train_data, eval_data, resume=resume)
        train = self.distributed.shard(make_loader(train_data, "train_data", train=True), True)
        evals = {
            s: self.distributed.shard(d, False) for s, d in make_eval_loaders(eval_data).items()
        }
        resume = self.distributed.agree_on_resume(self, resume)  # rank 0's choice, everywhere
        if resume is not None:
            resume_fit(self, resume)
        self._run(run_fit, self, train, evals)
        return self.state

    def evaluate(self, data: object, split: str = "eval") -> dict[str, float]:
        """One evaluation pass over ``data``; returns the averaged losses and metrics."""
        if self.distributed.spawns:
            return self.distributed.spawn_evaluate(data, split)
        loader = self.distributed.shard(
            make_loader(data, f"evaluate({split!r})", train=False), False
        )
        result: dict[str, float] = self._run(run_evaluation, self, split, loader)
        return result

    def predict(self, data: object, *, gather: bool = False) -> list[Any]:
        """One prediction pass; returns the predictions of each batch, in order.

        With several processes each rank predicts its share of ``data`` (rank r: samples
        r, r+W, ...) and gets its own outputs back; ``gather=True`` returns every rank's,
        in the order and batches of ``data``, on every rank (see
        :mod:`unitrain.distributed.gather`). In one process ``gather`` changes nothing.
        """
        whole = make_loader(data, "predict(data)", train=False)
        loader = self.distributed.shard(whole, False)
        result: list[Any] = self._run(run_prediction, self, loader)
        return self.distributed.gather(result, whole) if gather else result

    # ----------------------------------------------------------- helpers for the loop

    def make_optimizers(self) -> None:
        """Ask the providers for optimizers and schedulers, once per trainer."""
        state = self.state
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
        for index, optimizer in enumerate(optimizers):
            clear_gradients(optimizer)
            scheduler = self.hooks.make_scheduler(state, optimizer, index)
            if scheduler is not None:
                if not isinstance(scheduler, ScheduledLR):
                    scheduler = ScheduledLR(scheduler)
                state.schedulers.append(scheduler)
        stepping = any(isinstance(record.plugin, SchedulerStepper) for record in self.plugins)
        if state.schedulers and not stepping:
            # registered only when there is something to step: an idle listener on every
            # step still costs a call
            self.plugins.register(SchedulerStepper())

    def length_reached(self) -> bool:
        """True when ``max_epochs`` or ``max_steps`` is reached."""
        max_epochs = self.config.max_epochs
        return (max_epochs is not None and self.state.epoch >= max_epochs) or self.steps_reached()

    def steps_reached(self) -> bool:
        """True when ``max_steps`` is reached."""
        max_steps = self.config.max_steps
        return max_steps is not None and self.state.global_step >= max_steps

    def _run(self, entry: Any, *args: Any) -> Any:
        state = self.state
        assert state.model is not None
        outer = state.stage  # "idle", unless a plugin evaluates or predicts during a fit
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
            state.stage = outer

    # ----------------------------------------------------------- checkpoint content

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizers, schedulers, loop position and each plugin's own entries."""
        state = self.state
        assert state.model is not None
        extras = capture_extras(self)  # RNG first: other state_dicts may draw random numbers
        checkpoint: dict[str, Any] = {
            "model": state.model.state_dict(),
            "optimizers": [o.state_dict() for o in state.optimizers],
            "schedulers": [s.scheduler.state_dict() for s in state.schedulers],
            "position": {
                "epoch": state.epoch,
                "batch_idx": state.batch_idx,
                "global_step": state.global_step,
                "micro_step": state.micro_step,
            },
            "plugins": plugin_states(self),
            **extras,
        }
        self.hooks.on_save_checkpoint(state, checkpoint)
        return checkpoint

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` produced (optimizers are made first if needed)."""
        state = self.state
        assert state.model is not None
        # another world size: refused up front; under FSDP2 the full state becomes this rank's
        checkpoint = self.distributed.check_checkpoint(self, checkpoint)
        state.model.load_state_dict(checkpoint["model"])
        state.model.to(state.device)
        self.make_optimizers()
        for optimizer, saved in zip(state.optimizers, checkpoint["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(state.schedulers, checkpoint["schedulers"], strict=True):
            scheduler.scheduler.load_state_dict(saved)
        for key, value in checkpoint["position"].items():
            setattr(state, key, int(value))
        restore_extras(self, checkpoint)
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
