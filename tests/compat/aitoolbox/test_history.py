"""TrainingHistory: aitoolbox's keys and insertion rules."""

from __future__ import annotations

import pytest

from unitrain.compat.aitoolbox import TrainingHistory
from unitrain.errors import ConfigError


def test_default_keys_and_insertion() -> None:
    history = TrainingHistory()
    assert list(history.keys()) == ["loss", "accumulated_loss", "val_loss"]
    assert "val_loss" not in TrainingHistory(has_validation=False)
    history.insert_single_result_into_history("val_acc", 0.5)
    history.insert_single_result_into_history("val_acc", 0.7)
    history.insert_single_result_into_history("val_acc", 0.6, epoch=1)
    history.insert_single_result_into_history("late", 1.0, epoch=2)
    assert history["val_acc"] == [0.5, 0.6] and history["late"] == [None, None, 1.0]
    assert history.get_epoch_from_history(1) == {"val_acc": 0.6, "late": None}
    assert not history._is_empty() and TrainingHistory()._is_empty()
    with pytest.raises(KeyError, match="not in the training history"):
        history["missing"]


def test_strict_insertion_and_wrapping() -> None:
    strict = TrainingHistory(strict_content_check=True)
    with pytest.raises(ConfigError, match="strict_content_check"):
        strict.insert_single_result_into_history("x", 1.0, epoch=3)
    wrapped = TrainingHistory().wrap_pre_prepared_history({"loss": [1.0, 0.5]})
    assert dict(wrapped.items()) == {"loss": [1.0, 0.5]} and len(wrapped) == 1
