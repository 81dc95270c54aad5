"""Logger: the seed's modes, and tensors read once per name."""

from __future__ import annotations

import pytest
import torch

from unitrain.compat.pytorch_task import DummySnapshot, Logger


def test_average_all_and_callable_modes() -> None:
    for mode, expected in (("average", 2.0), ("all", [1.0, 3.0]), (max, 3.0)):
        logger = Logger(mode)  # type: ignore[arg-type]
        logger.log({"loss": 1.0})
        logger.log({"loss": 3.0})
        assert logger.return_final() == {"loss": expected}
    with pytest.raises(KeyError, match="unknown post-processing"):
        Logger("median")


def test_tensors_become_floats() -> None:
    logger = Logger()
    logger.log({"loss": torch.tensor(1.0)})
    logger.log({"loss": torch.tensor(2.0)})
    final = logger.return_final()
    assert final == {"loss": 1.5} and isinstance(final["loss"], float)


def test_store_train_appends_and_store_test_keeps_raw_values() -> None:
    snapshot = DummySnapshot()
    for epoch in (0, 1):
        logger = Logger()
        logger.log({"loss": 2.0 - epoch})
        logger.store_train(snapshot, epoch_i=epoch)
    assert snapshot.train_data == {"loss": [2.0, 1.0], "epoch_i": [0, 1]}
    logger = Logger()
    logger.log({"acc": 0.5})
    logger.log({"acc": 1.0})
    logger.store_test(snapshot)
    assert snapshot.test_data == {"acc": 0.75, "acc_data": [0.5, 1.0]}
    fresh = DummySnapshot()
    raw_only = Logger("all")
    raw_only.log({"acc": 0.5})
    raw_only.store_test(fresh)
    assert fresh.test_data == {"acc": [0.5]}  # no post-processing: no separate raw copy
