"""On CUDA: the bus and its statistics add no host sync to a training step."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

import unitrain.bus as ub
from tests.bus.conftest import Recorder, make_trainer, tiny_batches

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def syncs_of_second_fit(build: Callable[[], Any]) -> int:
    """Host syncs torch reports during a fit of ``build()``, after a first fit warmed up
    the CUDA context, the kernels and the allocator."""
    build().fit(tiny_batches())
    trainer = build()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit(tiny_batches())
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def syncs_during_fit(with_bus: bool) -> int:
    def build() -> Any:
        trainer = make_trainer(device="cuda", eval_every_epochs=None)
        if with_bus:
            ub.attach(
                trainer,
                ub.NormSubscriber("activations"),
                ub.NormSubscriber("weight_gradients"),
                ub.RatioSubscriber(["weight_updates", "weights"]),
                ub.SpectralNormSubscriber("weights"),
                ub.ConditionNumberSubscriber("weights"),
                ub.HistogramSubscriber("activations"),
                ub.MessageMeanSubscriber("activations_norm2"),
                ub.TrainAccuracySubscriber(),
                ub.LossSubscriber(),
                Recorder(bus_kinds=ub.MODULE_KINDS | ub.NETWORK_KINDS),
            )
        return trainer

    return syncs_of_second_fit(build)


def test_the_bus_adds_no_host_sync() -> None:
    assert syncs_during_fit(with_bus=True) == syncs_during_fit(with_bus=False)


def layer_stats_syncs(every: int | None) -> int:
    def build() -> Any:
        trainer = make_trainer(device="cuda", eval_every_epochs=None)
        if every is not None:
            ub.attach(trainer, ub.LayerStats(every=every))
        return trainer

    return syncs_of_second_fit(build)


def test_layer_stats_read_the_device_only_every_n_steps() -> None:
    bare = layer_stats_syncs(None)
    assert layer_stats_syncs(10**6) == bare + 1  # the one read when the fit ends (4 steps)
    assert layer_stats_syncs(2) == bare + 2  # after steps 2 and 4


def test_layer_stats_on_cuda_match_the_per_tensor_computation() -> None:
    class Copy:
        bus_kinds = frozenset({"activations", "weights"})

        def __init__(self) -> None:
            self.steps: list[dict[tuple[str, str], torch.Tensor]] = []

        def on_bus_bundles(self, state: Any, bundles: ub.StepBundles) -> None:
            self.steps.append(
                {(m.kind, str(m.module_name)): m.data.clone() for m in bundles.all_messages()}
            )

    stats = ub.LayerStats({"activations": ("norm2", "mean"), "weights": "norm2"}, every=3)
    copy = Copy()
    trainer = make_trainer(device="cuda", eval_every_epochs=None)
    ub.attach(trainer, stats, copy)
    trainer.fit(tiny_batches())
    for topic, reduce in (("norm2", torch.linalg.vector_norm), ("mean", torch.mean)):
        for kind in ("activations", "weights"):
            for module, (steps, values) in stats.series(f"{kind}_{topic}").items():
                for step, value in zip(steps, values, strict=True):
                    expected = reduce(copy.steps[step][(kind, str(module))]).item()
                    if topic == "mean":  # the per-tensor kernel itself
                        assert value == expected
                    else:  # CUDA's _foreach_norm sums in its own order: a few ulp apart
                        assert value == pytest.approx(expected, rel=1e-5)
