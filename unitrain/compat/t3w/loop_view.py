"""Where a t3w side effect finds its ``loop``: the stash keys the loops fill, the event
table, and :class:`EngineLoop`, the loop view used inside a plain :class:`unitrain.Trainer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unitrain.compat.t3w.progress import TrainingProgress
from unitrain.core.stash import StashKey

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["EVAL_LOOPS", "T3W_EVENTS", "TRAIN_LOOP", "EngineLoop"]

TRAIN_LOOP = StashKey[Any]("t3w.train_loop")
"""The :class:`TrainLoop` running the fit (set by the loop before ``fit``)."""
EVAL_LOOPS = StashKey[dict[str, Any]]("t3w.eval_loops")
"""``{split: EvalLoop}`` of the evaluations the fit or pass runs."""
_ENGINE_LOOP = StashKey[Any]("t3w.engine_loop")

_TRAIN_EVENTS = {
    "on_train_started": "on_fit_start",
    "on_train_epoch_started": "on_epoch_start",
    "on_train_step_started": "on_train_step_start",
    "on_train_step_finished": "on_train_step_end",
    "on_train_epoch_finished": "on_epoch_end",
    "on_train_finished": "on_fit_end",
}
_EVAL_EVENTS = {
    "on_eval_started": "on_eval_start",
    "on_eval_step_started": "on_eval_step_start",
    "on_eval_step_finished": "on_eval_step_end",
    "on_eval_finished": "on_eval_end",
}
T3W_EVENTS = {**_TRAIN_EVENTS, **_EVAL_EVENTS}


class EngineLoop:
    """A t3w-shaped view of a fit run by a plain :class:`unitrain.Trainer`.

    Offers ``model`` (the engine's model), ``progress`` (``step`` / ``epoch`` from the
    state; a plain model has no ``training_progress``; ``epoch`` is the engine's, without
    t3w's early increment, which only the t3w task marks), ``epochs``, ``metric_values``
    (the latest evaluation) and empty ``losses`` / ``metrics`` (the task owns them).
    """

    def __init__(self, state: State) -> None:
        self.state = state
        self.losses: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.side_effects: list[Any] = []
        self.loader: Any = None
        self.iter_per_epoch: int | None = None

    @property
    def model(self) -> Any:
        """The model the engine trains."""
        return self.state.model

    @property
    def progress(self) -> TrainingProgress:
        """``step`` / ``epoch`` read from the engine state."""
        return TrainingProgress(self.state)

    @property
    def epochs(self) -> int | None:
        """The epochs the fit runs to."""
        return self.state.max_epochs

    @property
    def metric_values(self) -> dict[str, float]:
        """The metrics of the latest evaluation pass (of the current split, if evaluating)."""
        state = self.state
        split = state.split if state.split in state.eval_metrics else None
        if split is None and state.eval_metrics:
            split = next(reversed(state.eval_metrics))
        return dict(state.eval_metrics.get(split, {})) if split is not None else {}
