"""``Task``: the train, eval and predict meta-algorithms in one overridable plugin."""

from __future__ import annotations

from unitrain.tasks.evaluate import EvalStages
from unitrain.tasks.predict import PredictStages
from unitrain.tasks.train import TrainStages

__all__ = ["Task"]


class Task(TrainStages, EvalStages, PredictStages):
    """A model with its losses, metrics and optimizer, and the default stages around it.

    ``Task(model, loss=nn.CrossEntropyLoss(), metrics={"accuracy": accuracy},
    optimizer=lambda params: torch.optim.Adam(params, 1e-3))`` trains on ``(inputs,
    targets)`` batches; with :class:`~unitrain.IMiniBatch` batches the model fills the
    minibatch and ``losses`` / ``metrics`` read it. Override any stage (``run_forward``,
    ``run_backward``, ``run_eval_step`` ...) or any step of it (``split_batch``,
    ``forward``, ``compute_losses`` ...) in a subclass, calling ``super()`` as you like;
    every plugin's events still fire around it. (While none of ``split_batch`` ...
    ``compute_step`` is overridden, ``run_forward`` runs their work as one function for
    ``(inputs, targets)`` batches: same result, fewer Python calls.)

    ``compile=True`` (or a dict of ``torch.compile`` keyword arguments, such as
    ``{"mode": "max-autotune"}``) compiles the model's ``forward`` in place: ``task.model``
    stays the module passed in and its checkpoints keep their keys (see
    :mod:`unitrain.tasks.compiling`).
    """
