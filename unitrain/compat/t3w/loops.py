"""``TrainLoop`` and ``EvalLoop``: t3w's loop objects, each running the one engine.

Calling a loop builds a :class:`unitrain.Trainer` around a :class:`~.task.T3wTask` and
registers the side effects (and any native ``plugins``) in list order; the engine runs the
loop. An ``eval_loop`` given to a ``TrainLoop`` runs inside the train epoch, before
``on_train_epoch_finished``, as in t3w.

Deliberate differences from t3w (its bugs are not copied):

- ``on_train_finished`` fires; an ``EvalLoop`` needs no optimizer; ``side_effects`` /
  ``metrics`` defaults are not shared mutable objects, and a side-effect batch sampler is
  added to the fit without appending to the caller's list.
- Gradient-accumulation windows end with each epoch (t3w let one straddle two epochs); a
  shorter last window is averaged over the batches it has.
- ``epoch_per_eval=n`` evaluates after epochs n, 2n, ... (t3w: after epochs 1, n+1, ...).
- The scheduler steps after the epoch's evaluation (t3w: before it); both come before
  ``on_train_epoch_finished``.
- ``TopLevelModule.to("cpu:2" | "cuda:0,1" | ...)`` runs the loops through unitrain's
  distributed launcher (``Trainer(devices=...)``): the engine splits the loader's sampler, so
  ``iter_per_epoch`` and ``batch_sampler`` are refused there; afterwards the module holds rank
  0's weights and position, and ``metric_values`` rank 0's (all-reduced) values.
- A side effect is listed in a loop by identity (not by ``id``), so it keeps hearing its
  loop's events inside the processes of a distributed run (where t3w's identity held too).
- The default shuffling continues across a save and load (see :mod:`.batches`): t3w reseeded
  it from ``torch.initial_seed()`` in every loop, so a resumed run replayed epoch 1's order.
- ``EvalLoop(breakpoint=True)`` with no model probes the data with :class:`ProbeData`
  (t3w's probe also needed an optimizer it never had, and failed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from unitrain.compat.t3w.batches import EpochBatches, ShuffledPasses, pass_seed, seed_worker
from unitrain.compat.t3w.context import LoopContext, MediaHooks
from unitrain.compat.t3w.media import IMediaProducer, MediaManager
from unitrain.compat.t3w.module import TopLevelModule
from unitrain.compat.t3w.probe import ProbeData
from unitrain.compat.t3w.side_effect import ISideEffect
from unitrain.compat.t3w.task import T3wTask
from unitrain.core.metrics import IDatasetMetric
from unitrain.errors import ConfigError
from unitrain.trainer import Trainer

__all__ = ["EvalLoop", "TrainLoop"]


class EvalLoop:
    """One evaluation pass over ``dataset``; ``metric_values`` holds the result.

    ``metrics`` maps names to dataset metrics (e.g. ``AverageMetric(MyAccuracy())``).
    ``plugins`` (unitrain extension) adds native plugins to the pass.
    """

    def __init__(
        self,
        dataset: Any,
        model: TopLevelModule | None = None,
        batch_size: int | None = None,
        metrics: Mapping[str, IDatasetMetric] | None = None,
        side_effects: Sequence[ISideEffect] | None = None,
        medias: Sequence[IMediaProducer] = (),
        breakpoint: bool = False,
        *,
        plugins: Sequence[object] = (),
    ) -> None:
        self.dataset = dataset
        if model is None and breakpoint:
            model = TopLevelModule(ProbeData(breakpoint=True))
        self.model = model
        self.batch_size = batch_size or _datum_type(dataset, "EvalLoop").val_batch_size
        self.metrics: dict[str, IDatasetMetric] = dict(metrics or {})
        self.medias = MediaManager(medias)
        self.side_effects: list[ISideEffect] = list(side_effects or ())
        self.plugins = list(plugins)
        self.loader: DataLoader[Any] | None = None
        self.trainer: Trainer | None = None
        self.split: str = getattr(dataset, "split", None) or "val"
        self.spawned_values: dict[str, float] | None = None

    def hears(self, side_effect: object) -> bool:
        """Whether ``side_effect`` is in this loop's ``side_effects`` (by identity)."""
        return any(member is side_effect for member in self.side_effects)

    @property
    def metric_values(self) -> dict[str, float]:
        """``{name: value}`` of the last pass."""
        if self.spawned_values is not None:
            return dict(self.spawned_values)
        return {name: metric.eval() for name, metric in self.metrics.items()}

    def __getstate__(self) -> dict[str, Any]:
        return _without(self.__dict__, "trainer", "loader")

    def make_loader(self) -> DataLoader[Any]:
        """The pass's loader: in order, batched by ``batch_size``, collated by the datum type."""
        datum = _datum_type(self.dataset, "EvalLoop")
        self.loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            collate_fn=datum.collate,
            num_workers=datum.num_workers,
        )
        return self.loader

    def __call__(self) -> None:
        model = _require_model(self.model, "EvalLoop")
        task = T3wTask(model, eval_metrics=self.metrics)
        context = LoopContext(None, {self.split: self})
        medias = [MediaHooks(None, {self.split: self})] if len(self.medias) else []
        trainer = Trainer(
            task,
            plugins=[context, *medias, *self.side_effects, *self.plugins],
            max_epochs=1,
            **_placement(model),
        )
        self.trainer = trainer
        self.spawned_values = None
        values = trainer.evaluate(self.make_loader(), self.split)
        if trainer.distributed.spawns:  # the metric objects were updated in the workers
            self.spawned_values = {name: values[name] for name in self.metrics}


class TrainLoop:
    """Trains ``model`` on ``dataset`` for ``epochs`` (resuming at its progress).

    Arguments as in t3w; ``plugins`` (unitrain extension) adds native plugins to the fit.
    """

    def __init__(
        self,
        dataset: Any,
        model: TopLevelModule,
        losses: Mapping[str, torch.nn.Module] | None = None,
        metrics: Mapping[str, torch.nn.Module] | None = None,
        medias: Sequence[IMediaProducer] = (),
        batch_size: int | None = None,
        sampler: Sampler[Any] | None = None,
        batch_sampler: Sampler[Any] | None = None,
        num_acc_grad: int = 1,
        epochs: int = 100,
        iter_per_epoch: int | None = None,
        epoch_per_eval: int = 1,
        eval_loop: EvalLoop | None = None,
        side_effects: Sequence[ISideEffect] | None = None,
        persistent_workers: bool = False,
        *,
        plugins: Sequence[object] = (),
    ) -> None:
        _require_model(model, "TrainLoop")
        if sampler is not None and batch_sampler is not None:
            raise ConfigError("TrainLoop: give sampler= or batch_sampler=, not both")
        self.dataset = dataset
        self.model = model
        self.losses: dict[str, torch.nn.Module] = dict(losses or {})
        self.metrics: dict[str, torch.nn.Module] = dict(metrics or {})
        self.medias = MediaManager(medias)
        self.batch_size = batch_size or _datum_type(dataset, "TrainLoop").train_batch_size
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_acc_grad = num_acc_grad
        self.epochs = epochs
        self.iter_per_epoch = iter_per_epoch
        self.epoch_per_eval = epoch_per_eval
        self.eval_loop = eval_loop
        self.side_effects: list[ISideEffect] = list(side_effects or ())
        sampler_plugin: object = batch_sampler
        if isinstance(sampler_plugin, ISideEffect) and sampler_plugin not in self.side_effects:
            self.side_effects.append(sampler_plugin)  # our own list: the caller's is untouched
        self.persistent_workers = persistent_workers
        self.plugins = list(plugins)
        self.loader: DataLoader[Any] | None = None
        self.trainer: Trainer | None = None

    def __getstate__(self) -> dict[str, Any]:
        return _without(self.__dict__, "trainer", "loader")

    def hears(self, side_effect: object) -> bool:
        """Whether ``side_effect`` is in this loop's ``side_effects`` (by identity)."""
        return any(member is side_effect for member in self.side_effects)

    @property
    def progress(self) -> Any:
        """The model's training progress (a view onto the engine state)."""
        return self.model.training_progress

    def make_loader(self, seed: int = 0) -> DataLoader[Any]:
        """t3w's train loader: shuffled (by :class:`ShuffledPasses` from ``seed``), incomplete
        last batch dropped, workers seeded."""
        datum = _datum_type(self.dataset, "TrainLoop")
        options: dict[str, Any] = {
            "num_workers": datum.num_workers,
            "collate_fn": datum.collate,
            "worker_init_fn": seed_worker,
            "persistent_workers": self.persistent_workers and datum.num_workers > 0,
        }
        if self.batch_sampler is not None:
            options["batch_sampler"] = self.batch_sampler
        else:
            sampler = self.sampler
            if sampler is None and self.model.devices_spec is None:
                sampler = ShuffledPasses(len(self.dataset), seed)
            options.update(
                batch_size=self.batch_size,
                shuffle=sampler is None,  # distributed: the engine splits a random sampler
                sampler=sampler,
                drop_last=True,
            )
        options["generator"] = torch.Generator().manual_seed(pass_seed(seed + 1, 0))
        self.loader = DataLoader(self.dataset, **options)
        if len(self.loader) == 0:
            raise ConfigError(
                f"TrainLoop: the dataset has {len(self.dataset)} samples, fewer than one batch "
                f"of {self.batch_size} (incomplete batches are dropped); lower batch_size"
            )
        return self.loader

    def __call__(self) -> None:
        model = self.model
        if model.optim is None:
            raise ConfigError(
                "TrainLoop: the TopLevelModule has no optimizer; build it as "
                "TopLevelModule(model, optim=torch.optim.SGD(model.parameters(), lr=...))"
            )
        for module in (*self.losses.values(), *self.metrics.values()):
            module.to(model.device)
        if model.data_seed is None:  # t3w's seed; kept by save() so a loaded module continues
            model.data_seed = torch.initial_seed()
        evals: dict[str, Any] = {}
        plugins: list[object] = list(self.side_effects)
        eval_metrics: dict[str, IDatasetMetric] = {}
        if self.eval_loop is not None:
            if self.eval_loop.model is None:
                self.eval_loop.model = model
            evals[self.eval_loop.split] = self.eval_loop.make_loader()
            eval_metrics = self.eval_loop.metrics
            known = {id(p) for p in plugins}
            plugins += [se for se in self.eval_loop.side_effects if id(se) not in known]
            plugins += self.eval_loop.plugins
        eval_loops = {} if self.eval_loop is None else {self.eval_loop.split: self.eval_loop}
        loader = self.make_loader(model.data_seed)
        train_data: Any = EpochBatches(
            loader,
            self.iter_per_epoch,
            seed=model.data_seed,
            drawn=model.training_progress.micro_step,
        )
        if model.devices_spec is not None:
            train_data = self._distributed_data()
        with_medias = len(self.medias) or any(len(e.medias) for e in eval_loops.values())
        medias = [MediaHooks(self, eval_loops)] if with_medias else []
        trainer = Trainer(
            T3wTask(model, self.losses, self.metrics, eval_metrics),
            plugins=[LoopContext(self, eval_loops), *medias, *plugins, *self.plugins],
            max_epochs=self.epochs,
            accumulation=self.num_acc_grad,
            eval_every_epochs=self.epoch_per_eval if evals else None,
            **_placement(model),
        )
        model.bind_state(trainer.state)
        if self.eval_loop is not None:
            self.eval_loop.trainer = trainer
        self.trainer = trainer
        trainer.fit(train_data, evals or None)
        if trainer.distributed.spawns and self.eval_loop is not None:
            # the workers ran the evaluations: keep rank 0's values for metric_values
            values = trainer.state.eval_metrics.get(self.eval_loop.split, {})
            self.eval_loop.spawned_values = {k: values[k] for k in eval_metrics if k in values}

    def _distributed_data(self) -> Any:
        """The plain loader, which the engine splits across the processes."""
        if self.iter_per_epoch is not None or self.batch_sampler is not None:
            raise ConfigError(
                f"TrainLoop on {self.model.devices_spec!r}: iter_per_epoch and batch_sampler "
                "are not supported in a distributed run (the engine splits the loader's "
                "sampler across the processes); drop them or train on one device"
            )
        return self.loader

    def step(self, mb: Any) -> Any:
        """Not available: t3w's single-step entry point has no meaning outside the engine."""
        raise ConfigError(
            "TrainLoop.step(mb) ran one step of t3w's own loop; on unitrain the engine runs "
            "every step: call the loop (loop()) and read each step in on_train_step_finished"
        )


def _placement(model: TopLevelModule) -> dict[str, Any]:
    """``devices=`` (one process per device) or ``device=`` for the Trainer."""
    if model.devices_spec is not None:
        return {"devices": model.devices_spec}
    return {"device": str(model.device)}


def _without(state: dict[str, Any], *names: str) -> dict[str, Any]:
    # what a distributed run pickles into its processes: no trainer, no live loader
    return {key: (None if key in names else value) for key, value in state.items()}


def _datum_type(dataset: Any, where: str) -> Any:
    datum = getattr(dataset, "datum_type", None)
    if datum is None:
        raise ConfigError(
            f"{where}: the dataset {type(dataset).__name__} has no datum_type; set the class "
            "attribute datum_type = YourDatum (an IDatum subclass) on your IDataset"
        )
    return datum


def _require_model(model: Any, where: str) -> TopLevelModule:
    if model is None and where == "EvalLoop":
        raise ConfigError(
            "EvalLoop has no model: pass model=TopLevelModule(your_model), or give the "
            "EvalLoop to a TrainLoop as eval_loop= (it then evaluates the TrainLoop's model)"
        )
    if not isinstance(model, TopLevelModule):
        raise ConfigError(
            f"{where}: model must be a TopLevelModule(your_model, optim=...), got "
            f"{type(model).__name__}"
        )
    return model
