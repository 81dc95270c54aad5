"""On CUDA: the bus and its statistics add no host sync to a training step."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

import unitrain.bus as ub
from tests.bus.conftest import Recorder, make_trainer, tiny_batches

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


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

    build().fit(tiny_batches())  # warm-up: CUDA context, kernels, allocator
    trainer = build()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit(tiny_batches())
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def test_the_bus_adds_no_host_sync() -> None:
    assert syncs_during_fit(with_bus=True) == syncs_during_fit(with_bus=False)
