"""Training signals: loss, train accuracy, and test accuracy through the engine's eval."""

from __future__ import annotations

from typing import Any

import torch

from unitrain.bus.messages import Message, MessageBundle
from unitrain.bus.subscriber import Subscriber
from unitrain.errors import ConfigError, StateError

__all__ = ["LossSubscriber", "TestAccuracySubscriber", "TrainAccuracySubscriber"]


class LossSubscriber(Subscriber):
    """Publishes each step's training loss as the META topic ``train_loss`` (for logs)."""

    def __init__(self, *, tag: str = "default", subsample: int = 1) -> None:
        super().__init__("loss", tag=tag, subsample=subsample)
        self._add_publication("train_loss", "META")

    def compute(self, message_or_bundle: Any) -> None:
        message: Message = message_or_bundle
        self.publish("train_loss", message.data)


class TrainAccuracySubscriber(Subscriber):
    """Argmax accuracy of each step's output against its labels: META ``train_accuracy``."""

    def __init__(self, *, tag: str = "default", subsample: int = 1) -> None:
        super().__init__(
            ("network_output", "input_labels"), tag=tag, subsample=subsample, synchronized=True
        )
        self._add_publication("train_accuracy", "META")

    def compute(self, message_or_bundle: Any) -> None:
        bundle: MessageBundle = message_or_bundle
        output, labels = bundle["network_output"], bundle["input_labels"]
        if not isinstance(output, torch.Tensor) or not isinstance(labels, torch.Tensor):
            raise ConfigError(
                "TrainAccuracySubscriber needs tensor outputs and labels, got "
                f"{type(output).__name__} and {type(labels).__name__}"
            )
        accuracy = (output.argmax(dim=-1) == labels).float().mean()
        self.publish("train_accuracy", accuracy)


class TestAccuracySubscriber(Subscriber):
    """Every ``every`` training steps, an evaluation pass over ``data``: META ``test_accuracy``.

    The pass is the engine's own (``on_eval_*`` hooks fire, the task's metrics are used,
    the result is stored as ``state.eval_metrics[split]``); ``metric`` names the task
    metric to publish. Reading it is a host sync, once per pass.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self, data: object, *, every: int = 100, split: str = "bus_test", metric: str = "accuracy"
    ) -> None:
        if every < 1:
            raise ConfigError(f"TestAccuracySubscriber: every must be >= 1, got {every}")
        super().__init__("batch_finished")
        self.data, self.every, self.split, self.metric = data, every, split, metric
        self._add_publication("test_accuracy", "META")
        self._loader: Any = None

    def compute(self, message_or_bundle: Any) -> None:
        message: Message = message_or_bundle
        if (message.global_step + 1) % self.every:
            return
        from unitrain.core.data import make_loader
        from unitrain.core.passes import evaluation_pass

        bundles = self.current_bundles
        trainer = getattr(getattr(bundles, "context", None), "trainer", None)
        if trainer is None:
            raise StateError(
                "TestAccuracySubscriber runs an evaluation pass through the engine and needs "
                "the native bus: use unitrain.bus.attach(trainer, subscriber)"
            )
        if self._loader is None:
            self._loader = make_loader(
                self.data, f"TestAccuracySubscriber({self.split!r})", train=False
            )
        metrics = evaluation_pass(trainer, self.split, self._loader)
        if self.metric not in metrics:
            raise ConfigError(
                f"TestAccuracySubscriber: the evaluation pass has no metric {self.metric!r} "
                f"(it has {sorted(metrics)}); give the Task metrics={{{self.metric!r}: ...}} "
                "or pass metric= the name of one"
            )
        self.publish("test_accuracy", torch.tensor(metrics[self.metric]))
