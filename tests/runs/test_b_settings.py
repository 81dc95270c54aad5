"""Battery: a resume compares the settings that change the math, refuses a change, and with an
explicit override only warns (never for a checkpoint saved inside an accumulation window).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runs.trainkit import Crash, CrashAt, make_data, make_trainer
from unitrain.errors import ConfigError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.runs.checkpoint import list_checkpoints
from unitrain.runs.settings import check_resume_settings


def _crash(folder: Path, micro_step: int, accumulation: int = 2) -> Path:
    plugins = [Checkpoint(folder, every_n_steps=1, keep_last=None), CrashAt(micro_step)]
    with pytest.raises(Crash):
        make_trainer(plugins, accumulation=accumulation).fit(make_data())
    return list_checkpoints(folder)[-1]


def test_a_mid_window_checkpoint_refuses_another_accumulation_even_with_the_override(
    tmp_path: Path,
) -> None:
    newest = _crash(tmp_path, micro_step=5)  # the exception save, inside a window of 2
    assert "-micro-" in newest.name
    for allow in ((), ("accumulation",)):
        plugin = Checkpoint(tmp_path, every_n_steps=1, allow_setting_changes=allow)
        trainer = make_trainer([plugin], accumulation=4)
        with pytest.raises(ConfigError, match="accumulation was 2, is 4") as info:
            trainer.fit(make_data(), resume=newest)
        assert str(newest) in str(info.value)
        assert "no override can make that exact" in str(info.value)
    assert list_checkpoints(tmp_path)[-1] == newest  # nothing was written


def test_a_changed_accumulation_is_refused_and_the_override_warns(tmp_path: Path) -> None:
    _crash(tmp_path, micro_step=4)  # the exception save falls on a window's end
    newest = list_checkpoints(tmp_path)[-1]
    assert "-micro-" not in newest.name
    with pytest.raises(ConfigError, match=r"allow_setting_changes=\('accumulation',\)"):
        make_trainer([Checkpoint(tmp_path)], accumulation=4).fit(make_data(), resume=newest)
    allowed = Checkpoint(tmp_path, allow_setting_changes=("accumulation",))
    trainer = make_trainer([allowed], accumulation=4)
    with pytest.warns(UserWarning, match="accumulation was 2, is 4.*differs from an uninter"):
        trainer.fit(make_data(), resume=newest)
    assert trainer.state.global_step > 2


def test_length_settings_may_change_and_unknown_overrides_are_refused() -> None:
    check_resume_settings({"accumulation": 2, "max_epochs": 3}, {"accumulation": 2})
    with pytest.raises(ConfigError, match="limit_train_batches was 3, is None"):
        check_resume_settings({"limit_train_batches": 3}, {"limit_train_batches": None})
    with pytest.raises(ConfigError, match="allow_setting_changes"):
        Checkpoint(allow_setting_changes=("lr",))
