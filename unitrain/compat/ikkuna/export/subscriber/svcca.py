"""``SVCCASubscriber``: how much each layer's representation still changes (SVCCA).

At every (subsampled) ``batch_finished`` the subscriber pushes the same ``n`` samples of
``dataset_meta`` through ``forward_fn`` (no gradients, the model in eval mode) and records
the output of every module the bus's exporter tracks. From the second time on it compares
each module's activations with the previous ones by SVCCA (Raghu et al., 2017): both
activation matrices are centred, reduced to the singular directions that hold 98% of their
variance, and the mean canonical correlation of the reduced pair is the similarity (1: the
layer's representation did not change). Convolution outputs ``(N, C, H, W)`` count every
position as a sample of ``C`` features, as in ikkuna. The similarity is plotted under
``self_similarity`` (one line per module) and published as the DATA topic
``self_similarity``; a module whose similarity exceeds ``freeze_at`` is frozen.

Differences on purpose: the computation is torch's (ikkuna needed Google's ``svcca``
package and numpy); the activations are recorded with forward hooks of this subscriber (ikkuna
re-published them on the bus under the tag ``svcca_testing``); ``BatchedSVCCASubscriber`` is
not provided (``batch_size`` only splits the forward pass).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from unitrain.bus.messages import ModuleKey
from unitrain.bus.subscribers.control import freeze_module
from unitrain.compat.ikkuna.messages import MessageBus
from unitrain.compat.ikkuna.subscriber import PlotSubscriber, Subscription
from unitrain.compat.ikkuna.visualization import DEFAULT_BACKEND

__all__ = ["SVCCASubscriber", "svcca_similarity"]


def _reduce(activations: torch.Tensor, keep: float) -> torch.Tensor:
    centred = activations - activations.mean(dim=0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    energy = s.square().cumsum(0)
    if energy[-1] <= 0:
        return centred[:, :0]
    count = int(torch.searchsorted(energy / energy[-1], torch.tensor(keep, dtype=s.dtype))) + 1
    reduced: torch.Tensor = u[:, :count] * s[:count]
    return reduced


def svcca_similarity(a: torch.Tensor, b: torch.Tensor, keep: float = 0.98) -> float:
    """Mean canonical correlation of ``a`` and ``b`` (samples x features) after each is
    reduced to the singular directions holding ``keep`` of its variance."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"svcca_similarity: {a.shape[0]} vs {b.shape[0]} samples")
    left, right = _reduce(a.double(), keep), _reduce(b.double(), keep)
    if left.shape[1] == 0 or right.shape[1] == 0:
        return 1.0 if left.shape[1] == right.shape[1] else 0.0
    q_left, _ = torch.linalg.qr(left)
    q_right, _ = torch.linalg.qr(right)
    correlations = torch.linalg.svdvals(q_left.T @ q_right).clamp(0.0, 1.0)
    return float(correlations.mean())


def _as_matrix(activations: torch.Tensor) -> torch.Tensor:
    if activations.dim() > 2:  # every position is a sample of the channel features
        channels = activations.shape[1]
        return activations.movedim(1, -1).reshape(-1, channels)
    return activations.reshape(activations.shape[0], -1)


class SVCCASubscriber(PlotSubscriber):
    """``SVCCASubscriber(dataset_meta, n, forward_fn, freeze_at=10, batch_size=None,
    message_bus=None, tag='default', subsample=1, ylims=None, backend='tb')``."""

    def __init__(
        self,
        dataset_meta: Any,
        n: int,
        forward_fn: Callable[[torch.Tensor], Any],
        freeze_at: float = 10.0,
        batch_size: int | None = None,
        message_bus: MessageBus | None = None,
        tag: str = "default",
        subsample: int = 1,
        ylims: Any = None,
        backend: Any = DEFAULT_BACKEND,
        modules: Any = None,
    ) -> None:
        dataset = getattr(dataset_meta, "dataset", dataset_meta)
        size = len(dataset)
        indices = torch.randint(0, size, (n,)).tolist()  # with replacement, as ikkuna
        inputs = [dataset[i][0] for i in indices]
        self._inputs = torch.stack([torch.as_tensor(x) for x in inputs])
        self._forward_fn = forward_fn
        self._batch_size = batch_size or n
        self._freeze_at = float(freeze_at)
        self._modules = modules
        self._previous: dict[torch.nn.Module, torch.Tensor] = {}
        self._ignored: set[torch.nn.Module] = set()
        self.similarities: dict[str, list[tuple[int, float]]] = {}
        config = {"title": "self_similarity", "ylabel": "Similarity", "xlabel": "Train step"}
        config["ylims"] = ylims
        super().__init__(
            [Subscription(self, ["batch_finished"], tag=tag, subsample=subsample)],
            message_bus,
            config,
            backend,
        )
        self._add_publication("self_similarity", "DATA")

    def _tracked(self) -> list[tuple[torch.nn.Module, str]]:
        if self._modules is not None:
            return [(module, name) for module, name in self._modules]
        delivering = getattr(self.current_bundles, "context", None)  # the bus delivering now
        exporter = getattr(delivering, "exporter", None) or getattr(
            self.message_bus, "exporter", None
        )
        if exporter is None:
            raise ValueError(
                "SVCCASubscriber: no Exporter publishes to this bus, so the modules to compare "
                "are unknown; create the Exporter with message_bus=<this bus>, or pass "
                "modules=[(module, name), ...]"
            )
        return [(named.module, named.name) for named in exporter.named_modules]

    def _record(self, tracked: list[tuple[torch.nn.Module, str]]) -> dict[Any, torch.Tensor]:
        outputs: dict[Any, list[torch.Tensor]] = {module: [] for module, _ in tracked}
        handles = [
            module.register_forward_hook(
                lambda m, args, out: (
                    outputs[m].append(out.detach()) if isinstance(out, torch.Tensor) else None
                )
            )
            for module, _ in tracked
        ]
        model = getattr(self._forward_fn, "__self__", None)
        was_training = getattr(model, "training", None)
        if isinstance(model, torch.nn.Module):
            model.eval()
        device = (
            next(iter(tracked[0][0].parameters()), torch.zeros(())).device if tracked else "cpu"
        )
        try:
            with torch.no_grad():
                for batch in torch.split(self._inputs, self._batch_size):
                    self._forward_fn(batch.to(device))
        finally:
            for handle in handles:
                handle.remove()
            if isinstance(model, torch.nn.Module) and was_training is not None:
                model.train(was_training)
        return {module: torch.cat(parts) for module, parts in outputs.items() if parts}

    def compute(self, message: Any) -> None:
        tracked = [(m, n) for m, n in self._tracked() if m not in self._ignored]
        current = self._record(tracked)
        for module, name in tracked:
            if module not in current:
                continue
            activations = _as_matrix(current[module].float())
            previous = self._previous.get(module)
            self._previous[module] = activations
            if previous is None:
                continue
            similarity = svcca_similarity(previous, activations)
            self.similarities.setdefault(name, []).append((message.global_step, similarity))
            self._backend.add_data(name, similarity, message.global_step)
            self.publish("self_similarity", torch.tensor(similarity), ModuleKey(name, module))
            if similarity > self._freeze_at:
                freeze_module(module)
                self._ignored.add(module)
                self._previous.pop(module, None)
