"""A subscriber written the way ikkuna's user guide writes one (its RatioSubscriber example),
with the matplotlib backend drawing for real."""

from __future__ import annotations

from typing import Any

import matplotlib
import pytest
import torch
from torch import nn

from unitrain.compat.ikkuna.export import Exporter
from unitrain.compat.ikkuna.export.messages import MessageBus, get_default_bus
from unitrain.compat.ikkuna.export.subscriber import (
    CallbackSubscriber,
    HistogramSubscriber,
    PlotSubscriber,
    SynchronizedSubscription,
)

matplotlib.use("Agg")


class GradientWeightRatio(PlotSubscriber):
    """The user guide's shape: a synchronized subscription, a plot config, a publication."""

    def __init__(self, kinds, message_bus=get_default_bus(), tag="default", subsample=1,  # type: ignore[no-untyped-def]  # noqa: B008 - as ikkuna wrote it
                 ylims=None, backend="tb"):  # fmt: skip
        title = f"{kinds[0]}_{kinds[1]}_ratio"
        subscription = SynchronizedSubscription(self, kinds, tag, subsample)
        super().__init__(
            [subscription],
            message_bus,
            {"title": title, "ylabel": "Ratio", "ylims": ylims, "xlabel": "Train step"},
            backend=backend,
        )
        self._kinds = kinds
        self._add_publication(f"{kinds[0]}_{kinds[1]}_ratio2", type="DATA")

    def compute(self, message_bundle):  # type: ignore[no-untyped-def]
        module, module_name = message_bundle.key  # ikkuna's NamedModule
        assert isinstance(module, nn.Module) and isinstance(module_name, str)
        first = message_bundle.data[self._kinds[0]]
        second = message_bundle.data[self._kinds[1]]
        ratio = first.norm() / second.norm()
        self._backend.add_data(module_name, ratio, message_bundle.global_step)
        kind = f"{self._kinds[0]}_{self._kinds[1]}_ratio2"
        self.message_bus.publish_module_message(
            message_bundle.global_step, message_bundle.train_step, message_bundle.epoch,
            kind, message_bundle.key, ratio,
        )  # fmt: skip


class Net(nn.Module):
    def __init__(self, exporter: Exporter) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)  # a two-letter name: ikkuna's key unpacks into (module, name)
        self.out = nn.Linear(6, 3)
        exporter.set_model(self)
        exporter.add_modules(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.fc(x)))


def _train(steps: int, bus: MessageBus) -> tuple[Net, list[dict[str, torch.Tensor]]]:
    torch.manual_seed(0)
    exporter = Exporter(depth=-1, message_bus=bus)
    model = Net(exporter)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    exporter.set_loss(loss_fn)
    expected: list[dict[str, torch.Tensor]] = []
    for _ in range(steps):
        x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
        # a step's "weights" are read when the step ends, after the optimizer step
        with torch.no_grad():
            expected.append(
                {
                    name: layer.weight.grad.norm() / layer.weight.norm()
                    for name, layer in (("/fc", model.fc), ("/out", model.out))
                    if layer.weight.grad is not None
                }
            )
    return model, expected


def test_a_user_guide_subscriber_gets_named_modules_and_plots_with_matplotlib() -> None:
    bus = MessageBus("guide")
    ratio = GradientWeightRatio(["weight_gradients", "weights"], message_bus=bus, backend="mpl")
    assert ratio.publications == {"DATA": ["weight_gradients_weights_ratio2"]}
    kind, topics = ratio.publications.popitem()  # a copy: the subscriber keeps its topics
    assert ratio.publications == {kind: topics}
    seen: list[tuple[int, str, float]] = []
    CallbackSubscriber(
        ["weight_gradients_weights_ratio2"],
        lambda value, step, train_step, epoch, key: seen.append((step, key.name, float(value))),
        message_bus=bus,
    )
    _, expected = _train(3, bus)
    assert [(s, n) for s, n, _ in seen] == [(s, n) for s in range(3) for n in ("/fc", "/out")]
    for step, name, value in seen:
        assert value == pytest.approx(float(expected[step][name]), rel=1e-6)
    figure = ratio.backend.figure
    assert ratio._backend is ratio.backend and figure._suptitle.get_text() == (
        "weight_gradients_weights_ratio"
    )
    lines = {line.get_label(): list(line.get_ydata()) for line in figure.axes[0].get_lines()}
    assert set(lines) == {"/fc", "/out"}
    assert lines["/fc"] == pytest.approx([v for _, n, v in seen if n == "/fc"], rel=1e-6)
    assert list(figure.axes[0].get_lines()[0].get_xdata()) == [1, 2, 3]  # ikkuna's x: 1, 2, ...


def test_histogram_subscriber_draws_matplotlib_histograms_of_buffered_values() -> None:
    bus = MessageBus("mpl-hist")
    histogram = HistogramSubscriber("weights", message_bus=bus, backend="mpl")
    _train(20, bus)  # the backend's buffer holds 20 steps before it draws
    backend: Any = histogram.backend
    assert sorted(backend.histograms) == ["/fc", "/out"]
    counts, edges = backend.histograms["/fc"][0]
    assert len(counts) == 50 and (counts * (edges[1:] - edges[:-1])).sum() == pytest.approx(1.0)
    titles = [axes.get_title() for axes in backend.histogram_figure.axes]
    assert titles == ["/fc", "/out"]


def test_a_two_letter_module_name_unpacks_as_ikkunas_named_tuple() -> None:
    bus = MessageBus("fc")
    keys: list[Any] = []
    CallbackSubscriber(["weights"], lambda w, *rest: keys.append(rest[-1]), message_bus=bus)
    model, _ = _train(1, bus)
    module, name = keys[0]
    assert (module, name) == (model.fc, "/fc") and str(keys[0]) == "<NamedModule: /fc>"
