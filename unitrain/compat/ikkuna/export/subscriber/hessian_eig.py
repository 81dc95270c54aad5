"""``HessianEigenSubscriber``: the top-k eigenvalues of the loss's Hessian w.r.t. the weights.

At the first ``batch_finished`` and every ``frequency``-th after it (ikkuna read its
subscription's ``counter`` the same way) the subscriber runs deflated power iteration: each
iteration multiplies a vector by the Hessian of the mean loss over the whole ``data_loader``
(a held-out set: keep it small, every iteration reads all of it) through a Hessian-vector
product (double backward), removes the directions of the eigenvalues already found, and
normalises. The Rayleigh quotient of the last vector is the eigenvalue. The parameters are
those of every module whose ``activations`` the exporter publishes (as ikkuna), minus frozen
ones. Each eigenvalue, largest magnitude first, is plotted as ``Eigenvalue <i>`` and the
k of them are published as the META topic ``hessian_eigenvalues``.

Differences on purpose: the power iteration is this module's (ikkuna needed the
``hessian_eigenthings`` package); the model is put in eval mode for it (dropout would make
the operator random, and the exporter ignores eval forwards) and put back; the start
vectors come from a generator seeded with ``seed`` and the random state is restored after
(iterating a ``DataLoader`` draws from it), so training's random stream and the gradients of
the step are untouched; ``batch_size`` (unused by ikkuna too) is accepted and
ignored: the loader's batches are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from unitrain.compat.ikkuna.messages import MessageBus
from unitrain.compat.ikkuna.subscriber import PlotSubscriber, Subscription
from unitrain.compat.ikkuna.visualization import DEFAULT_BACKEND
from unitrain.errors import ConfigError

__all__ = ["HessianEigenSubscriber", "top_hessian_eigenvalues"]

Vector = list[torch.Tensor]


def _dot(a: Vector, b: Vector) -> torch.Tensor:
    return sum(((x * y).sum() for x, y in zip(a, b, strict=True)), torch.zeros(()))


def _hessian_vector_product(
    parameters: list[torch.Tensor],
    vector: Vector,
    forward_fn: Callable[[torch.Tensor], Any],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    batches: Iterable[Any],
) -> Vector:
    total = [torch.zeros_like(p) for p in parameters]
    samples = 0
    device = parameters[0].device
    for inputs, targets in batches:
        loss = loss_fn(forward_fn(inputs.to(device)), targets.to(device))
        grads = torch.autograd.grad(loss, parameters, create_graph=True, allow_unused=True)
        used = [(g, v) for g, v in zip(grads, vector, strict=True) if g is not None]
        if not used:
            raise ValueError("HessianEigenSubscriber: the loss does not depend on the parameters")
        inner = sum(((g * v).sum() for g, v in used), torch.zeros((), device=device))
        products = torch.autograd.grad(inner, parameters, allow_unused=True)
        count = len(inputs)
        for acc, product in zip(total, products, strict=True):
            if product is not None:
                acc.add_(product, alpha=count)  # weighted: the mean over samples
        samples += count
    if samples == 0:
        raise ValueError("HessianEigenSubscriber: the data loader yielded no batch")
    return [acc / samples for acc in total]


def top_hessian_eigenvalues(
    parameters: list[torch.Tensor],
    forward_fn: Callable[[torch.Tensor], Any],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    batches: Iterable[Any],
    num_eig: int = 1,
    power_steps: int = 20,
    seed: int = 0,
) -> list[float]:
    """The ``num_eig`` eigenvalues of largest magnitude of the Hessian of the mean loss over
    ``batches`` w.r.t. ``parameters``, by deflated power iteration, largest first."""
    if not parameters:
        raise ValueError("top_hessian_eigenvalues: no parameters (are they all frozen?)")
    generator = torch.Generator().manual_seed(seed)
    found: list[tuple[float, Vector]] = []
    for _ in range(num_eig):
        vector = [torch.randn(p.shape, generator=generator).to(p) for p in parameters]
        value = 0.0
        for _ in range(power_steps):
            norm = _dot(vector, vector).sqrt()
            vector = [v / norm for v in vector]
            product = _hessian_vector_product(parameters, vector, forward_fn, loss_fn, batches)
            for eigenvalue, eigenvector in found:  # deflation: H - sum λ v vᵀ
                overlap = _dot(eigenvector, vector)
                product = [
                    p - eigenvalue * overlap * e for p, e in zip(product, eigenvector, strict=True)
                ]
            value = float(_dot(vector, product))
            vector = product
        norm = _dot(vector, vector).sqrt()
        found.append((value, [v / norm for v in vector]))
    return [value for value, _ in found]


class HessianEigenSubscriber(PlotSubscriber):
    """``HessianEigenSubscriber(forward_fn, loss_fn, data_loader, batch_size, frequency=1,
    num_eig=1, power_steps=20, tag='default', message_bus=None, ylims=None, backend='tb')``."""

    def __init__(
        self,
        forward_fn: Callable[[torch.Tensor], Any],
        loss_fn: Callable[[Any, Any], torch.Tensor],
        data_loader: Iterable[Any],
        batch_size: int | None = None,
        frequency: int = 1,
        num_eig: int = 1,
        power_steps: int = 20,
        tag: str = "default",
        message_bus: MessageBus | None = None,
        ylims: Any = None,
        backend: Any = DEFAULT_BACKEND,
        seed: int = 0,
    ) -> None:
        for name, value in (("frequency", frequency), ("num_eig", num_eig)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"HessianEigenSubscriber({name}={value!r}): must be an int >= 1")
        if isinstance(power_steps, bool) or not isinstance(power_steps, int) or power_steps < 1:
            raise ConfigError(
                f"HessianEigenSubscriber(power_steps={power_steps!r}): must be an int >= 1"
            )
        config = {"title": "Top hessian Eigenvalues", "ylabel": "Eigenvalue", "ylims": ylims}
        config["xlabel"] = "Train step"
        subscription = Subscription(self, ["batch_finished", "activations"], tag=tag)
        super().__init__([subscription], message_bus, config, backend)
        self._forward_fn, self._loss_fn, self._dataloader = forward_fn, loss_fn, data_loader
        self._num_eig, self._power_steps, self._frequency = num_eig, power_steps, frequency
        self._seed = seed
        self._parameters: dict[torch.Tensor, None] = {}  # ordered set, in module order
        self.eigenvalues: list[tuple[int, list[float]]] = []
        self._add_publication("hessian_eigenvalues", "META")

    def process_messages(self, messages: Any) -> None:
        # A step's activations are read before its batch_finished (ikkuna saw them during the
        # forward pass), so the first computation already knows the parameters.
        items = messages if isinstance(messages, list) else [messages]
        items = sorted(items, key=lambda m: m.kind == "batch_finished")
        super().process_messages(items)

    def compute(self, message: Any) -> None:
        if message.kind == "activations":
            module = message.key.module
            self._parameters.update(dict.fromkeys(module.parameters()))
            return
        if self.subscriptions["batch_finished"].counter.get("batch_finished", 0) % self._frequency:
            return
        values = self._eigenvalues()
        self.eigenvalues.append((message.global_step, values))
        for index, value in enumerate(values):
            self._backend.add_data(f"Eigenvalue {index}", value, message.global_step)
        self.publish("hessian_eigenvalues", torch.tensor(values))

    def _eigenvalues(self) -> list[float]:
        parameters = [p for p in self._parameters if p.requires_grad]
        model = getattr(self._forward_fn, "__self__", None)
        was_training = model.training if isinstance(model, torch.nn.Module) else None
        if isinstance(model, torch.nn.Module):
            model.eval()
        cuda = sorted({p.device.index or 0 for p in parameters if p.device.type == "cuda"})
        try:
            with torch.random.fork_rng(devices=cuda), torch.enable_grad():
                return top_hessian_eigenvalues(
                    parameters,
                    self._forward_fn,
                    self._loss_fn,
                    self._dataloader,
                    self._num_eig,
                    self._power_steps,
                    self._seed,
                )
        finally:
            if isinstance(model, torch.nn.Module) and was_training is not None:
                model.train(was_training)
