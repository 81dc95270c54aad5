"""``unitrain.Trainer``: the engine with exact resume and distributed training wired in.

:class:`~unitrain.core.engine.Engine` knows nothing of its extensions; this facade, one layer
above them, builds it and registers what the documented behaviour needs:

- ``"exact_resume"`` (:class:`~unitrain.runs.trainer_state.ExactResume`): the epoch's data
  order and the checkpoint's extras, so ``fit(resume=...)`` continues exactly;
- ``"distributed"`` (:mod:`unitrain.distributed.trainer`): the world-size check in every
  run; in a run of several processes the process group, the wrapped model, the sharded
  data and the agreement on stops. ``devices="cpu:2"`` spawns one process per device.

``fit(resume=...)`` finds and loads the checkpoint (:func:`unitrain.runs.resume.resume_fit`)
before the engine's loop starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import torch

from unitrain.core.data import make_eval_loaders, make_loader
from unitrain.core.engine import Engine
from unitrain.core.state import State
from unitrain.distributed.trainer import Distributed
from unitrain.hooks.manager import RankRule
from unitrain.runs.replay import Replay
from unitrain.runs.resume import resume_fit
from unitrain.runs.trainer_state import STATE_DICT, ExactResume
from unitrain.seeding import seed_loader_workers, use_deterministic

__all__ = ["Trainer"]


class Trainer(Engine):
    """Runs a task's training, evaluation and prediction with plugins around it.

    ``task`` is a plugin that supplies the default stages and owns ``model`` (see
    :class:`unitrain.Task`). Settings are validated all at once before anything runs
    (see :class:`~unitrain.core.config.TrainerConfig`); ``deterministic=True`` turns on
    :func:`unitrain.seeding.use_deterministic` when a fit starts. ``devices`` / ``strategy``: see
    :mod:`unitrain.distributed.trainer`. With several processes, ``hang_timeout`` (seconds;
    ``None``: off) stops every rank when one makes no progress for that long (see
    :mod:`unitrain.distributed.watchdog`).
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
        devices: str | int | None = None,
        strategy: Any = None,
        hang_timeout: float | None = 300.0,
    ) -> None:
        plugins = tuple(plugins)
        # devices="cpu:2" / "cuda:0,1" / torchrun: see unitrain.distributed.trainer; spawned
        # ranks rebuild this trainer from these arguments
        self.distributed = Distributed(devices, strategy, recipe=dict(locals()), factory=Trainer)
        super().__init__(
            task,
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
            device=device,
        )
        self.exact_resume = ExactResume(self)
        self.replay: Replay = self.exact_resume.replay  # the epoch's data order
        self.state.stash[STATE_DICT] = self.state_dict
        self.plugins.register(self.exact_resume, name="exact_resume")
        for plugin in plugins:
            self.plugins.register(plugin)
        self.distributed.setup(self)

    def add_plugin(
        self,
        plugin: object,
        name: str | None = None,
        *,
        order: int | None = None,
        ranks: RankRule | None = None,
    ) -> str | None:
        """Register one more plugin; see :meth:`PluginManager.register`."""
        self.distributed.added.append((plugin, name, order, ranks))  # for spawned ranks
        return super().add_plugin(plugin, name, order=order, ranks=ranks)

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
        distributed = self.distributed
        if distributed.spawns:
            return distributed.spawn_fit(self, train_data, eval_data, resume=resume)
        train = distributed.shard(make_loader(train_data, "train_data", train=True), True)
        evals = {s: distributed.shard(d, False) for s, d in make_eval_loaders(eval_data).items()}
        for loader in (train, *evals.values()):  # seed_everything(workers=True) asked for it
            seed_loader_workers(loader.batches)
        if self.config.deterministic:  # each spawned rank passes here too
            use_deterministic(True)
        resume = distributed.agree_on_resume(self, resume)  # rank 0's choice, everywhere
        if resume is not None:
            resume_fit(self, resume)
        return self.fit_loaders(train, evals)

    def evaluate(self, data: object, split: str = "eval") -> dict[str, float]:
        """One evaluation pass over ``data``; returns the averaged losses and metrics."""
        if self.distributed.spawns:
            return self.distributed.spawn_evaluate(data, split)
        loader = make_loader(data, f"evaluate({split!r})", train=False)
        return self.evaluate_loader(self.distributed.shard(loader, False), split)

    def predict(self, data: object, *, gather: bool = False) -> list[Any]:
        """One prediction pass; returns the predictions of each batch, in order.

        With several processes each rank predicts its share of ``data`` (rank r: samples
        r, r+W, ...) and gets its own outputs back; ``gather=True`` returns every rank's,
        in the order and batches of ``data``, on every rank (see
        :mod:`unitrain.distributed.gather`). In one process ``gather`` changes nothing.
        """
        whole = make_loader(data, "predict(data)", train=False)
        result = self.predict_loader(self.distributed.shard(whole, False))
        return self.distributed.gather(result, whole) if gather else result

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        """The engine's :meth:`~unitrain.core.engine.Engine.load_state_dict`, after the
        distributed check: another world size is refused up front, and under FSDP2 the full
        state becomes this rank's shards (which an event could not hand back)."""
        checkpoint = self.distributed.check_checkpoint(self, checkpoint)
        super().load_state_dict(checkpoint)
