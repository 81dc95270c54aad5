"""``PytorchTestable``: the seed's test and validation meta-algorithms, run by the engine.

``test_on(dataset)`` is one evaluation pass of the engine (``on_eval_start`` ... each batch
``run_eval_step`` → ``single_test`` ... ``on_eval_end``); inside a fit (``validate`` from an
overridden ``epoch``) the pass is nested in the running fit, so every plugin sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from unitrain.compat.pytorch_task.logger import Logger

__all__ = ["PytorchTestable"]


class PytorchTestable:
    """Mixin: testing and validation (use it through :class:`PytorchTask`)."""

    model: Any
    device: Any
    metric: Any
    snapshot: Any
    epoch_i: int | None
    val_dataset: Any
    forward: Callable[[Any], Any]
    load_model: Callable[..., None]
    evaluate_on_engine: Callable[[Any, Logger], None]

    # ------------------------------------------------------------------ user code

    def get_testing_data(self) -> Any:
        """User code: return the test loader."""
        raise NotImplementedError

    def get_metric(self) -> Any:
        """User code: return the metric callable ``metric(output, label)``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ meta-algorithm

    def prepare_test(self, sample: Any) -> Any:
        """Default preprocessing: move ``(data, label)`` to ``self.device``."""
        data, label = sample
        return data.to(self.device), label.to(self.device)

    def forward_test(self, sample: Any) -> Any:
        """Default forward pass during testing."""
        data, _ = sample
        return self.forward(data)

    def evaluate_metrics(self, output: Any, sample: Any) -> dict[str, Any]:
        """Evaluate the metric(s); return log-ready values."""
        _, label = sample
        return {"loss": self.metric(output, label).item()}

    def single_test(self, sample: Any) -> dict[str, Any]:
        """One test iteration, returning its metric values."""
        sample = self.prepare_test(sample)
        with torch.no_grad():
            output = self.forward_test(sample)
        return self.evaluate_metrics(output, sample)

    def test_on(self, dataset: Any, snapshot: Any = None) -> dict[str, Any] | None:
        """One pass over ``dataset``: store the averaged metrics in ``snapshot`` if given,
        else return them."""
        logger = Logger()
        self.model.eval()
        self.metric = self.get_metric()
        self.evaluate_on_engine(dataset, logger)
        if snapshot:
            logger.store_test(snapshot)
            return None
        return logger.return_final()

    def test(self) -> None:
        """Load the last model, test it on the test data, store the results."""
        self.load_model()
        self.model.to(self.device)
        data = self.get_testing_data()
        self.test_on(data, self.snapshot)

    # ------------------------------------------------------------------ validation

    def get_validation_data(self) -> Any:
        """Validation data; the test data unless overridden."""
        return self.get_testing_data()

    def log_validation(self, metrics: dict[str, Any]) -> None:
        """Append the validation metrics (and ``epoch_i``) to the snapshot's ``val_data``."""
        with self.snapshot.val_storage() as transaction:
            for name, value in metrics.items():
                transaction.append(name, value)
            transaction.append("epoch_i", self.epoch_i)

    def validate(self, *args: Any) -> None:
        """A test round during training (usable as an ``every_n_epochs`` callback)."""
        if self.val_dataset is None:
            self.val_dataset = self.get_validation_data()
        metrics = self.test_on(self.val_dataset)
        assert metrics is not None
        self.log_validation(metrics)
