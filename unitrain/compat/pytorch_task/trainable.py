"""``PytorchTrainable``: the seed's training meta-algorithm, run by the one engine.

The seed's steps keep their names and defaults; the engine calls them at its stages:

=========================  =================================================
seed step                  where the engine calls it
=========================  =================================================
``get_optimizer()``        ``make_optimizer`` (unless ``train()`` made it)
``prepare_train(sample)``  ``run_prepare_batch``
``forward_train(sample)``  ``run_forward``
``backward(out, sample)``  ``run_backward`` (it calls ``loss.backward()``)
``optimizer.step()``       ``run_optimizer_step`` (gradients zeroed after)
``iteration(sample)``      a subclass override runs as the whole step inside
                           ``run_forward`` (it steps the optimizer itself,
                           as in the seed; gradient-level hooks then come after)
``epoch(dataset)``         ``on_epoch_end``: ``super().epoch(dataset)`` stores
                           the epoch's averaged losses; code after it runs
                           after the epoch, code before it too (the engine ran
                           the steps already)
``train()``                builds the Trainer and runs ``fit``
=========================  =================================================

Every plugin's events fire around these steps; ``epoch_i`` / ``iter_i`` are read from the
engine's state during a fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unitrain.errors import StateError

__all__ = ["PytorchTrainable"]


class PytorchTrainable:
    """Mixin: the training meta-algorithm (use it through :class:`PytorchTask`)."""

    # The composite class provides these.
    model: Any
    device: Any
    epochs: int | None
    criterion: Any
    optimizer: Any
    snapshot: Any
    epoch_i: int | None
    forward: Callable[[Any], Any]
    save_model: Callable[[str], None]
    fit_on_engine: Callable[[Any], None]
    finish_engine_epoch: Callable[[], bool]

    # ------------------------------------------------------------------ user code

    def get_training_data(self) -> Any:
        """User code: return the training loader (``(data, label)`` batches by default)."""
        raise NotImplementedError

    def get_criterion(self) -> Any:
        """User code: return the loss function."""
        raise NotImplementedError

    def get_optimizer(self) -> Any:
        """User code: return the optimizer."""
        raise NotImplementedError

    # ------------------------------------------------------------------ meta-algorithm

    def prepare_train(self, sample: Any) -> Any:
        """Default preprocessing: move ``(data, label)`` to ``self.device``."""
        data, label = sample
        return data.to(self.device), label.to(self.device)

    def forward_train(self, sample: Any) -> Any:
        """Default forward pass during training."""
        data, _ = sample
        return self.forward(data)

    def backward(self, output: Any, sample: Any) -> dict[str, Any]:
        """Evaluate the criterion, backpropagate, return the loss values to log."""
        _, label = sample
        loss = self.criterion(output, label)
        loss.backward()
        return {"loss": loss.item()}

    def iteration(self, sample: Any) -> dict[str, Any]:
        """One whole training iteration (the seed's sequence).

        The engine runs the default as separate stages; a subclass that overrides this
        method has it called as the whole step, and ``super().iteration(sample)`` does the
        seed's sequence itself.
        """
        self.model.train()
        self.optimizer.zero_grad()
        sample = self.prepare_train(sample)
        output = self.forward_train(sample)
        loss = self.backward(output, sample)
        self.optimizer.step()
        return loss

    def epoch(self, dataset: Any) -> None:
        """The end of one epoch: store its averaged losses in the snapshot.

        The engine has run the epoch's iterations when this is called (see the module
        docstring); override it, call ``super().epoch(dataset)``, and add per-epoch work.
        """
        if not self.finish_engine_epoch():
            raise StateError(
                "PytorchTask.epoch runs inside a fit: the engine runs the epoch's "
                "iterations and then calls epoch(); start training with train()"
            )

    def train(self) -> None:
        """Build the data, criterion and optimizer, fit on the engine, save ``final.pt``."""
        self.model.to(self.device)
        data = self.get_training_data()
        self.criterion = self.get_criterion()
        self.optimizer = self.get_optimizer()
        self.fit_on_engine(data)
        self.save_model("final.pt")

    # ------------------------------------------------------------------ utilities

    def every_n_epochs(
        self, n: int, function: Callable[[Any], Any], skip_zero: bool = True
    ) -> None:
        """Call ``function(self)`` when ``epoch_i`` is a multiple of ``n`` (not at epoch 0
        when ``skip_zero``); call it from an overridden ``epoch``."""
        if skip_zero and self.epoch_i == 0:
            return
        if self.epoch_i is not None and self.epoch_i % n == 0:
            function(self)
