"""What a checkpoint holds beyond the engine's own entries, and how it is put back: the
:class:`ExactResume` plugin, which :class:`unitrain.Trainer` registers as ``"exact_resume"``.

Its hooks: ``make_epoch_batches`` (a wrapper: the epoch's data order is snapshot, or
restored and replayed on resume, see :mod:`unitrain.runs.replay`), ``on_train_batches_end``
(where an epoch was cut), ``on_before_save_checkpoint`` (:func:`capture_extras` **first**:
RNG snapshots are taken before any other object serialises itself, since that may draw
random numbers) and ``on_load_checkpoint`` (``tryfirst``: :func:`restore_extras`, before the
other plugins hear of the checkpoint). The extras:

- ``data_order``: :meth:`Replay.state_dict` (epoch, batches done, RNG + generator snapshots);
- ``grads``: the accumulated gradients when a checkpoint falls inside an accumulation window
  (``None`` otherwise: at a window end the engine has zeroed them);
- ``scaler``: ``state.grad_scaler.state_dict()`` when mixed precision uses one;
- ``config``: the trainer's settings;
- ``world_size``: how many processes wrote it (a resume with another number is refused
  before anything is loaded, in ``on_before_load_checkpoint``: see
  :class:`unitrain.distributed.checkpoint.WorldSizeCheck`);
- ``rank_data_orders``: only in a checkpoint of every rank
  (:func:`unitrain.distributed.full_state_dict`): each rank's ``data_order``, by rank; on
  resume each rank takes its own (its own random streams and sampler position);
- ``plugins[name]``: ``plugin.state_dict()`` of each plugin that has ``state_dict`` and
  ``load_state_dict`` methods (plugins may also add entries in ``on_save_checkpoint``).

Everything is tensors and plain data, so the result loads with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

import torch

from unitrain.core.stash import StashKey
from unitrain.core.state import State
from unitrain.errors import UnitrainWarning
from unitrain.hooks.markers import hookimpl
from unitrain.runs.replay import Replay

if TYPE_CHECKING:
    from unitrain.core.engine import Engine

__all__ = [
    "ALL_RANKS_STATE_DICT",
    "STATE_DICT",
    "ExactResume",
    "capture_extras",
    "plugin_states",
    "restore_extras",
    "stateful_plugins",
]

#: The trainer puts its ``state_dict`` method here, so a checkpoint plugin can save it.
STATE_DICT: StashKey[Callable[[], dict[str, Any]]] = StashKey("trainer.state_dict")
#: In a run of several processes: ``state_dict`` with every rank's random state and data
#: order. A collective: every rank must call it at the same point (see the Checkpoint plugin).
ALL_RANKS_STATE_DICT: StashKey[Callable[[], dict[str, Any]]] = StashKey("trainer.all_ranks_state")
#: States of plugins that were in the loaded checkpoint but are not registered now: they are
#: written again into every later checkpoint, so removing a plugin for one run loses nothing.
ORPHANS: StashKey[dict[str, Any]] = StashKey("trainer.orphan_plugin_states")

_log = logging.getLogger("unitrain.runs")


class ExactResume:
    """Exact resume: the epoch's data order, and the checkpoint's extras (module docstring).

    Registered by :class:`unitrain.Trainer` as ``"exact_resume"``; holds the
    :class:`~unitrain.runs.replay.Replay` (``trainer.replay``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.replay = Replay(engine.state)

    @hookimpl(wrapper=True)
    def make_epoch_batches(
        self, state: State, loader: object, batches: Iterable[Any]
    ) -> Generator[None, Iterable[Any] | None, Iterable[Any]]:
        inner = yield
        # keep the RNG state before each fetch only when a plugin may write a resumable
        # checkpoint (see unitrain.runs.replay)
        plugins = self.engine.plugins
        resumable = any(callable(getattr(r.plugin, "resume_dirs", None)) for r in plugins)
        self.replay.start_epoch(loader, track_fetches=resumable)
        return self.replay.batches(batches if inner is None else inner)

    def on_train_batches_end(self, state: State, exhausted: bool) -> None:
        self.replay.end_batches(exhausted)  # an epoch cut short here is resumed from here

    def on_before_save_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        checkpoint.update(capture_extras(self.engine, self.replay))
        checkpoint.setdefault("plugins", {}).update(plugin_states(self.engine))

    @hookimpl(tryfirst=True)
    def on_load_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        restore_extras(self.engine, self.replay, checkpoint)


def stateful_plugins(trainer: Engine) -> dict[str, Any]:
    """Registered plugins (not the task) with ``state_dict`` and ``load_state_dict`` methods."""
    return {
        record.name: record.plugin
        for record in trainer.plugins
        if record.name != "task"
        and callable(getattr(record.plugin, "state_dict", None))
        and callable(getattr(record.plugin, "load_state_dict", None))
    }


def capture_extras(trainer: Engine, replay: Replay) -> dict[str, Any]:
    """The checkpoint entries beyond model, optimizers, schedulers and position."""
    state = trainer.state
    extras: dict[str, Any] = {"data_order": replay.state_dict()}
    assert state.model is not None
    grads = [p.grad for p in state.model.parameters()]
    extras["grads"] = None if all(g is None for g in grads) else [_detach(g) for g in grads]
    scaler = state.grad_scaler
    extras["scaler"] = scaler.state_dict() if scaler is not None else None
    extras["config"] = trainer.config.model_dump(mode="json")
    extras["world_size"] = state.world_size
    return extras


def plugin_states(trainer: Engine) -> dict[str, Any]:
    """``{name: plugin.state_dict()}`` of the stateful plugins (see :func:`stateful_plugins`),
    after the kept states of plugins that are absent now."""
    orphans: dict[str, Any] = trainer.state.stash.get(ORPHANS, {})
    states = dict(orphans)
    states.update((name, p.state_dict()) for name, p in stateful_plugins(trainer).items())
    return states


def _detach(grad: torch.Tensor | None) -> torch.Tensor | None:
    return None if grad is None else grad.detach().clone()


def restore_extras(trainer: Engine, replay: Replay, checkpoint: dict[str, Any]) -> None:
    """Put back :func:`capture_extras`' entries; warn about states no plugin takes now."""
    state = trainer.state
    assert state.model is not None
    grads = checkpoint.get("grads")
    if grads is not None:
        for parameter, grad in zip(state.model.parameters(), grads, strict=True):
            parameter.grad = None if grad is None else grad.to(parameter.device)
    saved_plugins: dict[str, Any] = checkpoint.get("plugins", {})
    stateful = stateful_plugins(trainer)
    for name, plugin in stateful.items():
        if name in saved_plugins:
            plugin.load_state_dict(saved_plugins[name])
        else:
            _log.info("plugin %r has no state in the checkpoint: it starts fresh", name)
    orphans = {name: saved for name, saved in saved_plugins.items() if name not in trainer.plugins}
    trainer.state.stash[ORPHANS] = orphans
    skipped = trainer.plugins.skipped  # excluded here by their rank rule: absent by design
    for name, saved in orphans.items():
        if name in skipped:
            continue
        keys = sorted(saved) if isinstance(saved, dict) else [type(saved).__name__]
        listed = ", ".join(map(str, keys))
        warnings.warn(
            f"the checkpoint holds state of plugin {name!r} (keys: {listed}), "
            "but no plugin of that name is registered now: its state is kept in later "
            f"checkpoints but not used. Register the plugin as {name!r} to restore it",
            UnitrainWarning,
            stacklevel=3,
        )
    # the world size was checked before anything was loaded (on_before_load_checkpoint); a
    # checkpoint of every rank holds each rank's data order: this rank takes its own
    data_order = checkpoint.get("data_order")
    per_rank = checkpoint.get("rank_data_orders")
    if per_rank is not None and len(per_rank) == state.world_size:
        data_order = per_rank[state.rank]
    if data_order is not None:
        replay.load_state_dict({**data_order, "scaler": checkpoint.get("scaler")})
