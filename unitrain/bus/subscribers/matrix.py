"""Matrix statistics of weight-like kinds, and histograms; all on the device, with no host
sync (no ``.item()``, no SVD, whose CUDA kernels check their result on the host)."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import torch

from unitrain.bus.messages import Message
from unitrain.bus.subscriber import Subscriber
from unitrain.bus.subscribers.stats import _float, _topic_type
from unitrain.errors import ConfigError

__all__ = ["ConditionNumberSubscriber", "HistogramSubscriber", "SpectralNormSubscriber"]

V = TypeVar("V")


def _as_matrix(tensor: torch.Tensor) -> torch.Tensor:
    # Conv kernels (out, in, kh, kw) are read as (out, in*kh*kw), as in spectral norm papers.
    return tensor.reshape(tensor.shape[0], -1) if tensor.dim() > 1 else tensor.reshape(1, -1)


class _Iterative(Subscriber, Generic[V]):
    """Base of the iterative matrix statistics of one kind (``<kind>_<suffix>``): runs
    ``iterations`` steps per training step from vectors kept per module in ``vectors``."""

    suffix: ClassVar[str] = ""

    def __init__(
        self,
        kind: str = "weights",
        iterations: int = 3,
        *,
        tag: str = "default",
        subsample: int = 1,
    ) -> None:
        if iterations < 1:
            raise ConfigError(f"{type(self).__name__}: iterations must be >= 1, got {iterations}")
        super().__init__(kind, tag=tag, subsample=subsample)
        self.kind, self.iterations = kind, iterations
        self.topic = f"{kind}_{self.suffix}"
        self._add_publication(self.topic, _topic_type(kind))
        self.vectors: dict[str, V] = {}


class SpectralNormSubscriber(_Iterative[torch.Tensor]):
    """Largest singular value by power iteration (``<kind>_spectral_norm``).

    Keeps one left vector per module between steps, so ``iterations`` (default 3) steps of
    power iteration per training step track the value closely as weights drift.
    """

    suffix = "spectral_norm"

    def compute(self, message_or_bundle: Any) -> None:
        message: Message = message_or_bundle
        matrix = _as_matrix(_float(message.data, f"SpectralNormSubscriber({self.kind!r})"))
        with torch.no_grad():
            u = self.vectors.get(message.key)
            if u is None or u.shape[0] != matrix.shape[0] or u.device != matrix.device:
                u = torch.nn.functional.normalize(
                    torch.ones(matrix.shape[0], device=matrix.device, dtype=matrix.dtype), dim=0
                )
            for _ in range(self.iterations):
                v = torch.nn.functional.normalize(matrix.t() @ u, dim=0)
                u = torch.nn.functional.normalize(matrix @ v, dim=0)
            self.vectors[message.key] = u
            self.publish(self.topic, u @ (matrix @ v), message.module_name)


def _start(size: int, like: torch.Tensor) -> torch.Tensor:
    # A fixed, non-symmetric start: not orthogonal to any particular singular vector.
    start = torch.linspace(1.0, 2.0, size, device=like.device, dtype=like.dtype)
    return torch.nn.functional.normalize(start, dim=0)


class ConditionNumberSubscriber(_Iterative[tuple[torch.Tensor, torch.Tensor]]):
    """Largest over smallest singular value (``<kind>_condition_number``).

    Power iteration for the largest and inverse iteration (``solve_ex`` without its error
    check, so nothing is read to the host) for the smallest eigenvalue of the smaller Gram
    matrix, with persistent vectors per module, ``iterations`` steps each per training step.
    """

    suffix = "condition_number"

    def compute(self, message_or_bundle: Any) -> None:
        message: Message = message_or_bundle
        where = f"ConditionNumberSubscriber({self.kind!r})"
        matrix = _as_matrix(_float(message.data, where)).detach()
        gram = matrix.t() @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.t()
        size = gram.shape[0]
        top, bottom = self.vectors.get(message.key, (None, None))
        if top is None or bottom is None or top.shape[0] != size or top.device != gram.device:
            top, bottom = _start(size, gram), _start(size, gram).flip(0)
        for _ in range(self.iterations):
            top = torch.nn.functional.normalize(gram @ top, dim=0)
            solved = torch.linalg.solve_ex(gram, bottom.unsqueeze(1), check_errors=False)
            bottom = torch.nn.functional.normalize(solved.result.squeeze(1), dim=0)
        self.vectors[message.key] = (top, bottom)
        largest, smallest = top @ (gram @ top), bottom @ (gram @ bottom)
        self.publish(self.topic, (largest / smallest).sqrt(), message.module_name)


class HistogramSubscriber(Subscriber):
    """A ``bins``-bin histogram of each message over its own range (``<kind>_histogram``).

    Data is ``(counts, edges)``, both on the device (``len(edges) == bins + 1``).
    """

    def __init__(
        self, kind: str, bins: int = 50, *, tag: str = "default", subsample: int = 1
    ) -> None:
        if bins < 1:
            raise ConfigError(f"HistogramSubscriber: bins must be >= 1, got {bins}")
        super().__init__(kind, tag=tag, subsample=subsample)
        self.kind, self.bins = kind, bins
        self.topic = f"{kind}_histogram"
        self._add_publication(self.topic, _topic_type(kind))

    def compute(self, message_or_bundle: Any) -> None:
        message: Message = message_or_bundle
        values = _float(message.data, f"HistogramSubscriber({self.kind!r})").detach().flatten()
        low, high = torch.aminmax(values)
        span = (high - low).clamp_min(torch.finfo(values.dtype).tiny)
        # torch.histc over the data's own range (and bincount) read the range to the host on
        # CUDA; this stays on the device: histc's bin formula, counted with scatter_add.
        index = ((values - low) * self.bins / span).long().clamp_(0, self.bins - 1)
        counts = torch.zeros(self.bins, device=values.device, dtype=values.dtype)
        counts.scatter_add_(0, index, torch.ones_like(values))
        steps = torch.arange(self.bins + 1, device=values.device, dtype=values.dtype) / self.bins
        edges = low + (high - low) * steps
        self.publish(self.topic, (counts, edges), message.module_name)
