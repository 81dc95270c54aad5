"""TrainingHistory: aitoolbox's dict-like API, appending by item and by addition."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unitrain.compat.aitoolbox.experiment.training_history import TrainingHistory
from unitrain.compat.aitoolbox.history import TrainingHistory as FlatTrainingHistory
from unitrain.errors import ConfigError, ConfigTypeError

names = st.text("abcdef_", min_size=1, max_size=6)
values = st.floats(allow_nan=False, allow_infinity=False)


def test_default_keys_and_the_flat_path_is_the_same_class() -> None:
    assert FlatTrainingHistory is TrainingHistory
    history = TrainingHistory()
    assert history.get_train_history() == {"loss": [], "accumulated_loss": [], "val_loss": []}
    assert history.empty_train_history == history.train_history
    assert history.empty_train_history is not history.train_history
    assert list(TrainingHistory(has_validation=False)) == ["loss", "accumulated_loss"]


def test_setitem_appends_and_getitem_names_what_exists() -> None:
    history = TrainingHistory()
    history["loss"] = 1.0
    history["loss"] = 0.5
    history["val_acc"] = 0.9
    assert history["loss"] == [1.0, 0.5] and history["val_acc"] == [0.9]
    assert "val_acc" in history and "nope" not in history and len(history) == 4
    with pytest.raises(KeyError, match="val_acc"):
        history["missing"]


@given(st.dictionaries(names, values, max_size=5), st.dictionaries(names, values, max_size=5))
def test_adding_a_dict_appends_each_value_and_leaves_the_original(
    first: dict[str, float], second: dict[str, float]
) -> None:
    history = TrainingHistory() + first
    before = {k: list(v) for k, v in history.items()}
    combined = history + second
    assert {k: list(v) for k, v in history.items()} == before  # + copies
    for name in set(first) | set(second) | {"loss"}:
        expected = [d[name] for d in (first, second) if name in d]
        assert combined.get(name, []) == expected
    assert (second + history).train_history == combined.train_history
    history += second
    assert history.train_history == combined.train_history


@pytest.mark.parametrize("other", [[1.0, 2.0], 3.5, "loss"])
def test_adding_anything_but_a_dict_is_a_type_error(other: Any) -> None:
    history = TrainingHistory()
    with pytest.raises(ConfigTypeError, match="dict"):
        history + other
    with pytest.raises(TypeError):
        other + history
    with pytest.raises(TypeError):
        history += other


def test_qa_check_reports_uneven_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    even = {"loss": [1.0, 2.0], "acc": [0.1, 0.2]}
    TrainingHistory(strict_content_check=True).wrap_pre_prepared_history(
        even
    ).qa_check_history_records()
    uneven = {"loss": [1.0, 2.0], "acc": [0.1]}
    TrainingHistory().wrap_pre_prepared_history(uneven).qa_check_history_records()
    assert "'acc' has 1 values but 'loss' has 2" in capsys.readouterr().out
    strict = TrainingHistory(strict_content_check=True).wrap_pre_prepared_history(uneven)
    with pytest.raises(ConfigError, match="one value per epoch"):
        strict.qa_check_history_records()


def test_history_dict_flattens_per_epoch_dicts_and_drops_empty_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    history = TrainingHistory()
    assert history.get_train_history_dict() == history.train_history
    assert "empty" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="empty"):
        TrainingHistory(strict_content_check=True).get_train_history_dict()
    history["loss"] = 1.0
    history["scores"] = {"a": 1, "b": {"c": 2}}
    history["scores"] = {"a": 3, "b": {"c": 4}}
    assert history.get_train_history_dict(flatten_dict=True) == {
        "loss": [1.0],
        "scores_a": [1, 3],
        "scores_b_c": [2, 4],
    }
    assert history["scores"][0] == {"a": 1, "b": {"c": 2}}  # flattening works on a copy


def test_epoch_view_and_string_form() -> None:
    history = TrainingHistory().wrap_pre_prepared_history({"loss": [3.0, 2.0], "acc": [0.5]})
    assert history.get_epoch_from_history(1) == {"loss": 2.0}
    assert str(history) == str({"loss": [3.0, 2.0], "acc": [0.5]})
