"""The data order of the running epoch, so a resumed epoch continues with the same batch.

The order of a shuffled epoch is fixed when the loader is iterated: a ``DataLoader`` draws
its base seed, and a ``RandomSampler`` its permutation, from the loader's generator, or from
the global torch RNG when it has none; a user's iterable may draw from any global RNG. So at
the start of each epoch (in ``make_epoch_batches``, just before ``on_epoch_start``, through the
:class:`~unitrain.runs.trainer_state.ExactResume` plugin) :meth:`Replay.start_epoch` takes a
snapshot of every RNG and of the loader's generators. A checkpoint stores that snapshot, the
number of batches done, and a second snapshot taken when it was written.

Resuming mid-epoch, :meth:`Replay.start_epoch` puts the epoch-start snapshot back,
:meth:`Replay.batches` iterates the loader (same order), drops the batches already done,
fetches the next one and only then restores the checkpoint-time snapshot: the training
continues exactly as the uninterrupted run did. Resuming at an epoch boundary, the two
snapshots are the same. Limit (as Ignite's): randomness inside DataLoader worker processes
is only reproduced when it is derived from the loader's seed (the default worker seeding).

An epoch **cut** short (``max_steps`` reached, or a stop asked for ``"now"``, at the end of
an accumulation window, before the data ran out) still ends (``on_epoch_end``, epoch + 1),
but :meth:`Replay.end_batches` keeps where it stopped: a checkpoint written after it records
that epoch, the batches done and the random state at the cut (``"cut": True``). A resume then
continues that epoch from the next batch, as the uninterrupted run would have; the random
state at the cut is put back just before that batch is fetched (it had not been fetched yet).

What makes a mid-epoch resume exact when data loading in this process draws from the global
RNGs (a shuffle with Python's ``random`` or numpy in a custom iterable, a random
augmentation) is costly on a small model: the torch RNG state kept before every fetch (about
1 % of its step) and numpy's and Python's states at each epoch start (about 0.1 ms). So this
**fetch tracking** is on only when someone may write a resumable checkpoint:
:attr:`Replay.track_fetches` is ``None`` (automatic: on when a registered plugin has a
``resume_dirs()`` method, as the :class:`~unitrain.plugins.checkpoint.Checkpoint` and
run-store plugins do), or set it to ``True`` / ``False``. Without it the epoch start keeps
the torch CPU RNG and the loader's generators, which is all a ``DataLoader`` (workers
included) orders its batches with: a mid-epoch ``Trainer.state_dict()`` then resumes
exactly unless data loading draws from a global RNG in this process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

from unitrain.core.state import State
from unitrain.errors import CheckpointError
from unitrain.runs.rng import capture_rng, restore_rng

__all__ = ["Replay", "loader_generators"]


def loader_generators(batches: object) -> list[torch.Generator]:
    """The distinct ``torch.Generator`` objects a loader shuffles or seeds with."""
    found: list[torch.Generator] = []
    candidates = [
        getattr(batches, "generator", None),
        getattr(getattr(batches, "sampler", None), "generator", None),
        getattr(
            getattr(getattr(batches, "batch_sampler", None), "sampler", None), "generator", None
        ),
    ]
    for generator in candidates:
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def snapshot(generators: list[torch.Generator], every_rng: bool = True) -> dict[str, Any]:
    """Every global RNG (or only torch's CPU one, which alone orders a ``DataLoader``'s
    shuffling) plus the given generators' states."""
    rng = capture_rng() if every_rng else {"torch": torch.get_rng_state()}
    return {"rng": rng, "generators": [g.get_state() for g in generators]}


def restore(saved: dict[str, Any], generators: list[torch.Generator]) -> None:
    """Put back a :func:`snapshot` (generators matched by position)."""
    restore_rng(saved["rng"])
    for generator, state in zip(generators, saved["generators"], strict=False):
        generator.set_state(state)


class Replay:
    """Owned by the trainer: remembers the epoch's data order and replays it on resume."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.track_fetches: bool | None = None  # None: the loop decides (see the module doc)
        self._tracking = True
        self.epoch: int | None = None
        self.generators: list[torch.Generator] = []
        self.epoch_start: dict[str, Any] | None = None
        self.pending: dict[str, Any] | None = None
        self._skip = 0
        self._resume_snapshot: dict[str, Any] | None = None
        self.before_fetch: torch.Tensor | None = None
        self.before_previous: torch.Tensor | None = None
        self.cut: dict[str, Any] | None = None  # where the last epoch was cut short, if it was

    # ------------------------------------------------------------------ the epoch's hooks

    def start_epoch(self, batches: object, track_fetches: bool = True) -> None:
        """Before ``on_epoch_start`` (``make_epoch_batches``): snapshot, or restore on resume.

        ``track_fetches`` is the automatic choice, used unless :attr:`track_fetches`
        is set."""
        state = self.state
        self._tracking = track_fetches if self.track_fetches is None else self.track_fetches
        self.generators = loader_generators(batches)
        pending, self.pending = self.pending, None
        self.cut = None
        if pending is not None and pending["epoch"] == state.epoch:
            restore(pending["epoch_start"], self.generators)
            if pending.get("scaler") is not None and state.grad_scaler is not None:
                state.grad_scaler.load_state_dict(pending["scaler"])
            self._skip = state.batch_idx = int(pending["batches_done"])
            if self._skip:
                self._resume_snapshot = {
                    **pending["now"],
                    "before_fetch": pending.get("before_fetch"),
                    "cut": bool(pending.get("cut")),
                }
        self.epoch = state.epoch
        self.epoch_start = snapshot(self.generators, every_rng=self._tracking)

    def batches(self, batches: Iterable[Any]) -> Iterable[Any]:
        """The epoch's batches; on a mid-epoch resume, without those already done.

        When fetches are tracked, the torch RNG state is kept before each one (a 5 KB copy,
        no host sync): data loading in this process may draw from it (random augmentations),
        interleaved with the training's own draws, so a resume makes the last two fetches
        (a loader may read one batch ahead) from the states they had. With nothing to skip
        or track, ``batches`` itself is returned.
        """
        skip, self._skip = self._skip, 0
        saved, self._resume_snapshot = self._resume_snapshot, None
        self.before_fetch = self.before_previous = None
        if not skip and not self._tracking:
            return batches  # the loop iterates it
        return self._replayed(batches, skip, saved)

    def _replayed(
        self, batches: Iterable[Any], skip: int, saved: dict[str, Any] | None
    ) -> Iterator[Any]:
        # a generator: the loader is iterated (a shuffle drawn) at the loop's first fetch,
        # after on_epoch_start, as without a replay
        iterator = iter(batches)
        if skip:
            assert saved is not None
            previous, last = saved.get("before_fetch") or (None, None)
            for done in range(skip):
                if done == skip - 1 and previous is not None:
                    torch.set_rng_state(previous)
                if next(iterator, _END) is _END:
                    raise CheckpointError(
                        f"cannot resume epoch {self.state.epoch} after batch {skip}: the "
                        f"training data now has only {done} batches in this epoch; resume "
                        "with the same data"
                    )
            if saved["cut"]:  # saved before this fetch: put back first, then fetch
                restore(saved, self.generators)
                self.before_previous, self.before_fetch = previous, torch.get_rng_state()
                first = next(iterator, _END)
            else:
                if last is not None:
                    torch.set_rng_state(last)
                    self.before_previous, self.before_fetch = previous, last
                first = next(iterator, _END)
                restore(saved, self.generators)  # after the fetch, as when it was saved
            if first is _END:
                return
            yield first
        if not self._tracking:
            yield from iterator
            return
        while True:
            self.before_previous, self.before_fetch = self.before_fetch, torch.get_rng_state()
            batch = next(iterator, _END)
            if batch is _END:
                return
            yield batch

    def end_batches(self, exhausted: bool) -> None:
        """At ``on_train_batches_end``: keep where an epoch was cut.

        Cut: the batches did not run out (``exhausted``; nor was a known epoch length
        reached), at the end of an accumulation window (inside one, the window's gradients
        are dropped, so its first micro-steps could not be continued).
        """
        state = self.state
        length = state.epoch_length
        complete = length is not None and state.batch_idx >= length
        if exhausted or complete or not state.ends_window or state.batch_idx == 0:
            self.cut = None
            return
        assert self.epoch_start is not None
        self.cut = {
            "epoch": state.epoch,
            "batches_done": state.batch_idx,
            "epoch_start": self.epoch_start,
            "now": snapshot(self.generators),
            # before the fetch of the last batch done; the next one was not fetched yet
            "before_fetch": [self.before_fetch, None],
            "cut": True,
        }

    # ------------------------------------------------------------------ checkpoint content

    def state_dict(self) -> dict[str, Any]:
        """Where the data stands: the epoch, the batches done, the two snapshots."""
        state = self.state
        cut = self.cut
        if cut is not None and state.epoch in (cut["epoch"], cut["epoch"] + 1):
            return cut  # the epoch was cut short (its end is running or done): resume it
        now = snapshot(self.generators)
        if self.epoch is None or self.epoch != state.epoch or state.phase != "fit":
            # between epochs (or after the fit): the next epoch starts from this RNG state
            return {"epoch": state.epoch, "batches_done": 0, "epoch_start": now, "now": now}
        assert self.epoch_start is not None
        return {
            "epoch": state.epoch,
            "batches_done": state.batch_idx,
            "epoch_start": self.epoch_start,
            "now": now,
            "before_fetch": [self.before_previous, self.before_fetch] if state.batch_idx else None,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Arm the replay: the next :meth:`start_epoch` of ``saved["epoch"]`` resumes it."""
        self.pending, self.cut = saved, None
        self.state.epoch = int(saved["epoch"])
        self.state.batch_idx = int(saved["batches_done"])


_END = object()
