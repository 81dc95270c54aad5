"""ikkuna's ``TestAccuracySubscriber``: a test-set pass through the user's forward function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from unitrain.bus.messages import Message
from unitrain.bus.subscriber import Subscriber as NativeSubscriber
from unitrain.compat.ikkuna.messages import MessageBus
from unitrain.compat.ikkuna.subscriber import _Plotting
from unitrain.compat.ikkuna.visualization import DEFAULT_BACKEND
from unitrain.errors import ConfigError

__all__ = ["TestAccuracySubscriber"]


class TestAccuracySubscriber(_Plotting, NativeSubscriber):
    """``TestAccuracySubscriber(dataset_meta, forward_fn, batch_size, message_bus=None,
    frequency=100, ylims=None, tag='default', subsample=1, backend='tb')``.

    At train steps 0, ``frequency``, 2 ``frequency``, ... (as ikkuna) runs
    ``dataset_meta.dataset`` (or a dataset given directly) through ``forward_fn`` without
    gradients, the model in eval mode, and publishes META ``test_accuracy`` (plotted as
    ``test_accuracy``). Deliberate differences: the accuracy is over samples (ikkuna averaged
    per-batch accuracies, which weighs a short last batch too much) and the model is in eval
    mode for the pass (ikkuna left dropout on). Inside a unitrain fit use
    :class:`unitrain.bus.TestAccuracySubscriber`, which runs the engine's own evaluation pass.
    """

    __test__ = False

    def __init__(
        self,
        dataset_meta: Any,
        forward_fn: Callable[[torch.Tensor], torch.Tensor],
        batch_size: int,
        message_bus: MessageBus | None = None,
        frequency: int = 100,
        ylims: Any = None,
        tag: str = "default",
        subsample: int = 1,
        backend: Any = DEFAULT_BACKEND,
    ) -> None:
        if frequency < 1 or batch_size < 1:
            raise ConfigError("TestAccuracySubscriber: frequency and batch_size must be >= 1")
        NativeSubscriber.__init__(self, "batch_finished", tag=tag, subsample=subsample)
        self.dataset = getattr(dataset_meta, "dataset", dataset_meta)
        self.forward_fn, self.batch_size, self.frequency = forward_fn, batch_size, frequency
        self._add_publication("test_accuracy", "META")
        self.label = "test_accuracy"
        self._setup(message_bus, backend, "test_accuracy", ylims)

    def compute(self, message_or_bundle: Any) -> None:
        message: Message = message_or_bundle
        if message.global_step % self.frequency:
            return
        model = getattr(self.forward_fn, "__self__", self.forward_fn)
        was_training = getattr(model, "training", None)
        if isinstance(model, torch.nn.Module):
            model.eval()
        correct = torch.zeros(())
        total = 0
        try:
            loader = torch.utils.data.DataLoader(self.dataset, batch_size=self.batch_size)
            with torch.no_grad():
                for inputs, labels in loader:
                    output = self.forward_fn(inputs)
                    correct = (
                        correct.to(output.device)
                        + (output.argmax(-1) == labels.to(output.device)).sum()
                    )
                    total += int(labels.shape[0])
        finally:
            if isinstance(model, torch.nn.Module) and was_training is not None:
                model.train(was_training)
        self.publish("test_accuracy", correct.float() / max(total, 1))
