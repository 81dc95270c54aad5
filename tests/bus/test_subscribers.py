"""Every shipped subscriber on a tiny real model inside a fit."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import unitrain.bus as ub
from tests.bus.conftest import Recorder, make_trainer, tiny_batches
from unitrain.bus import attach
from unitrain.errors import ConfigError


class Copy:
    """Keeps copies of some kinds per step (data is only valid during the call)."""

    def __init__(self, *kinds: str) -> None:
        self.bus_kinds = set(kinds)
        self.steps: list[dict[str, dict[str | None, Any]]] = []

    def on_bus_bundles(self, state: Any, bundles: ub.StepBundles) -> None:
        step: dict[str, dict[str | None, Any]] = {}
        for kind in bundles.kinds():
            for m in bundles.messages(kind):
                data = m.data.clone() if isinstance(m.data, torch.Tensor) else m.data
                step.setdefault(kind, {})[m.module_name] = data
        self.steps.append(step)


def fit_with(*subscribers: Any, raw: tuple[str, ...] = (), **options: Any) -> Copy:
    trainer = make_trainer(**options)
    copy = Copy(*raw)
    attach(trainer, *subscribers, copy)
    trainer.fit(tiny_batches())
    return copy


def test_statistics_match_torch_on_the_same_data() -> None:
    copy = fit_with(
        ub.NormSubscriber("weight_gradients"),
        ub.NormSubscriber("activations", p=float("inf")),
        ub.MeanSubscriber("activations"),
        ub.VarianceSubscriber("weights"),
        ub.SumSubscriber("biases"),
        raw=("weight_gradients", "activations", "weights", "biases"),
    )
    step = copy.steps[2]
    for name, grad in step["weight_gradients"].items():
        assert torch.allclose(step["weight_gradients_norm2"][name], grad.norm())
    for name, act in step["activations"].items():
        assert torch.allclose(step["activations_norminf"][name], act.abs().max())
        assert torch.allclose(step["activations_mean"][name], act.mean())
    for name, weight in step["weights"].items():
        assert torch.allclose(step["weights_variance"][name], weight.var())
    for name, bias in step["biases"].items():
        assert torch.allclose(step["biases_sum"][name], bias.sum())


def test_ratio_and_message_mean_chain_in_any_registration_order() -> None:
    # the consumer is registered before its producer: delivery still runs the producer first
    copy = fit_with(
        ub.MessageMeanSubscriber("activations_norm2"),
        ub.NormSubscriber("activations"),
        ub.RatioSubscriber(["weight_updates", "weights"]),
        raw=("weight_updates", "weights"),
    )
    step = copy.steps[1]
    norms = step["activations_norm2"]
    assert torch.allclose(
        step["activations_norm2_message_mean"][None], torch.stack(list(norms.values())).mean()
    )
    for name, update in step["weight_updates"].items():
        expected = update.norm() / step["weights"][name].norm()
        assert torch.allclose(step["weight_updates_weights_ratio"][name], expected)


def test_spectral_norm_and_condition_number_track_the_singular_values() -> None:
    copy = fit_with(
        ub.SpectralNormSubscriber("weights", iterations=20),
        ub.ConditionNumberSubscriber("weights", iterations=30),
        raw=("weights",),
    )
    step = copy.steps[-2]
    for name, weight in step["weights"].items():
        values = torch.linalg.svdvals(weight)
        assert torch.allclose(step["weights_spectral_norm"][name], values[0], rtol=1e-3)
        condition = step["weights_condition_number"][name]
        assert torch.allclose(condition, values[0] / values[-1], rtol=1e-3)


def test_histogram_counts_every_value() -> None:
    copy = fit_with(ub.HistogramSubscriber("activations", bins=7), raw=("activations",))
    step = copy.steps[0]
    for name, (counts, edges) in step["activations_histogram"].items():
        assert counts.shape == (7,) and edges.shape == (8,)
        assert int(counts.sum()) == step["activations"][name].numel()
        assert torch.equal(counts, torch.histc(step["activations"][name], bins=7))
        assert torch.isclose(edges[0], step["activations"][name].min())


def test_loss_train_accuracy_and_test_accuracy_through_the_engine() -> None:
    evals: list[str] = []

    class Watch:
        def on_eval_start(self, state: Any, split: str) -> None:
            evals.append(split)

    trainer = make_trainer()
    copy = Copy("loss", "network_output", "input_labels")
    trainer.add_plugin(Watch())
    attach(
        trainer,
        ub.LossSubscriber(),
        ub.TrainAccuracySubscriber(),
        ub.TestAccuracySubscriber(tiny_batches(seed=1), every=2, split="probe"),
        copy,
    )
    trainer.fit(tiny_batches())
    assert evals == ["probe", "probe"]  # after steps 1 and 3, through the engine's eval
    steps = copy.steps
    assert torch.equal(steps[0]["train_loss"][None], steps[0]["loss"][None])
    accuracy = (
        (steps[0]["network_output"][None].argmax(-1) == steps[0]["input_labels"][None])
        .float()
        .mean()
    )
    assert torch.equal(steps[0]["train_accuracy"][None], accuracy)
    assert "test_accuracy" not in steps[0] and "test_accuracy" in steps[1]
    last = steps[3]["test_accuracy"][None].item()
    assert last == pytest.approx(trainer.state.eval_metrics["probe"]["accuracy"])


def test_test_accuracy_names_a_missing_metric() -> None:
    trainer = make_trainer()
    trainer.task.metrics.clear()
    attach(trainer, ub.TestAccuracySubscriber(tiny_batches(), every=1))
    with pytest.raises(ConfigError, match="no metric 'accuracy'"):
        trainer.fit(tiny_batches())


def test_callback_subscriber_calls_back_with_data_and_counters() -> None:
    # ikkuna's CallbackSubscriber raised KeyError on its first message
    calls: list[tuple[Any, ...]] = []
    fit_with(
        ub.CallbackSubscriber(
            ["weights", "biases"],
            lambda w, b, *counters: calls.append((w.shape, b.shape, *counters)),
        )
    )
    assert calls[0] == (torch.Size([8, 6]), torch.Size([8]), 0, 0, 0, "0")
    assert calls[1][-1] == "2" and len(calls) == 8


def test_freeze_subscriber_really_freezes_parameters() -> None:
    # ikkuna's freeze_module set an attribute on the module and trained on
    trainer = make_trainer(max_epochs=2)
    freezer = ub.FreezeSubscriber("weights_norm2", lambda name, value: name == "0", every=2)
    attach(trainer, ub.NormSubscriber("weights"), freezer, module_filter=[nn.Linear])
    model = trainer.state.model
    assert model is not None
    trainer.fit(tiny_batches())
    assert freezer.frozen == ["0"]
    assert all(not p.requires_grad for p in model[0].parameters())
    frozen = [p.detach().clone() for p in model[0].parameters()]
    trainer.config = trainer.config.model_copy(update={"max_epochs": 3})
    trainer.state.max_epochs = 3
    trainer.fit(tiny_batches())
    assert all(torch.equal(a, b) for a, b in zip(frozen, model[0].parameters(), strict=True))


def test_freeze_module_helper() -> None:
    layer = nn.Linear(2, 2)
    layer(torch.ones(1, 2)).sum().backward()
    params = ub.freeze_module(layer)
    assert len(params) == 2 and all(not p.requires_grad and p.grad is None for p in params)


def test_subscriber_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="two kinds"):
        ub.RatioSubscriber(["weights"])
    with pytest.raises(ConfigError, match="callable"):
        ub.CallbackSubscriber("loss", 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="bins"):
        ub.HistogramSubscriber("weights", bins=0)
    sub = ub.NormSubscriber("weights")
    with pytest.raises(Exception, match="outside a delivery"):
        sub.publish("weights_norm2", torch.zeros(()))
    assert Recorder().deliveries == []
