"""HarderBatchSampler: batches per epoch, weights from per-sample losses, auto-registration."""

from __future__ import annotations

import random

import pytest

from tests.compat.t3w._tiny import CrossEntropy, PointSet, make_module
from unitrain.compat import t3w
from unitrain.errors import ConfigError


def test_len_is_the_number_of_batches() -> None:
    sampler = t3w.HarderBatchSampler(PointSet(size=16), based_on=["ce"])
    assert len(sampler) == 4  # t3w returned 16, the sample count


def test_it_reweights_the_samples_it_drew_and_is_registered_by_the_loop() -> None:
    random.seed(0)
    dataset = PointSet(size=16)
    sampler = t3w.HarderBatchSampler(dataset, based_on=["ce"])
    loop = t3w.TrainLoop(
        dataset, make_module(), losses={"ce": CrossEntropy()}, batch_sampler=sampler, epochs=2
    )
    loop()
    assert loop.progress.step == 8  # an endless sampler still gives len(sampler) per epoch
    changed = [w for w in sampler.weights if w != 1.0]
    assert changed and all(w > 0 for w in changed)
    assert sampler.batch_indices == []  # consumed by on_train_step_finished


def test_unknown_names_and_empty_based_on_are_refused() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        t3w.HarderBatchSampler(PointSet(), based_on=[])
    dataset = PointSet(size=8)
    sampler = t3w.HarderBatchSampler(dataset, based_on=["nope"])
    loop = t3w.TrainLoop(
        dataset, make_module(), losses={"ce": CrossEntropy()}, batch_sampler=sampler, epochs=1
    )
    with pytest.raises(ConfigError, match="'nope'"):
        loop()
