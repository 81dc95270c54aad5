"""``PytorchEvaluable``: the seed's inference meta-algorithm.

``eval(sample)`` is a plain function (usable live, e.g. in a server); ``eval_path`` runs it
as a one-sample prediction pass of the engine, so plugins see ``on_predict_*``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["PytorchEvaluable"]


class PytorchEvaluable:
    """Mixin: evaluation of single inputs (use it through :class:`PytorchTask`)."""

    model: Any
    device: Any
    forward: Callable[[Any], Any]
    load_model: Callable[..., None]
    predict_on_engine: Callable[[Any], Any]

    def load_sample(self, path: str) -> Any:
        """User code: load one input from ``path``."""
        raise NotImplementedError

    def store_result(self, result: Any, path: str) -> None:
        """User code: store one result at ``path``."""
        raise NotImplementedError

    def prepare_eval(self, data: Any) -> Any:
        """Default preprocessing of a raw input: move it to ``self.device``."""
        return data.to(self.device)

    def forward_eval(self, data: Any) -> Any:
        """Default forward pass of a raw input."""
        return self.forward(data)

    def postprocess(self, result: Any) -> Any:
        """Default post-processing: none."""
        return result

    def eval(self, sample: Any) -> Any:
        """Prepare, forward, post-process one input."""
        sample = self.prepare_eval(sample)
        result = self.forward_eval(sample)
        return self.postprocess(result)

    def eval_path(self, input_path: str, output_path: str) -> None:
        """Load the last model, evaluate the input at ``input_path``, store at ``output_path``."""
        self.load_model()
        self.model.to(self.device)
        sample = self.load_sample(input_path)
        result = self.predict_on_engine(sample)
        self.store_result(result, output_path)
