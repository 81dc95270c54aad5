"""The checkpoint plugin: triggers, retention, exceptions, configuration errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.runs.trainkit import BATCH, SAMPLES, Crash, CrashAt, make_data, make_trainer
from unitrain.errors import ConfigError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.runs.checkpoint import MANIFEST, list_checkpoints, newest_valid, read_latest

BATCHES = SAMPLES // BATCH


def _manifests(directory: Path) -> list[dict[str, Any]]:
    return [json.loads((p / MANIFEST).read_text()) for p in list_checkpoints(directory)]


def _steps(directory: Path) -> list[int]:
    return [m["position"]["global_step"] for m in _manifests(directory)]


def test_every_n_steps_and_at_the_end(tmp_path: Path) -> None:
    make_trainer([Checkpoint(tmp_path, every_n_steps=4, every_n_epochs=None, keep_last=None)]).fit(
        make_data()
    )
    assert _steps(tmp_path) == [4, 8, 12, 16, 18]
    assert [m["trigger"] for m in _manifests(tmp_path)][-1] == "end"
    assert read_latest(tmp_path) == "step-000000018"


def test_every_n_epochs_at_the_boundary(tmp_path: Path) -> None:
    plugin = Checkpoint(tmp_path, every_n_epochs=2, save_last=False, keep_last=None)
    make_trainer([plugin], max_epochs=4).fit(make_data())
    manifests = _manifests(tmp_path)
    assert [m["position"]["epoch"] for m in manifests] == [2, 4]
    assert all(m["position"]["batches_done"] == 0 for m in manifests)


def test_best_metric_and_keep_best_with_keep_last(tmp_path: Path) -> None:
    plugin = Checkpoint(
        tmp_path,
        every_n_epochs=1,
        save_best=True,
        monitor="accuracy",
        mode="max",
        keep_last=1,
        keep_best=1,
    )
    trainer = make_trainer([plugin], max_epochs=4)
    trainer.fit(make_data(), eval_data=make_data())
    kept = _manifests(tmp_path)
    values = [m["monitor"]["value"] for m in kept]
    assert len(kept) <= 2 and kept[-1]["position"]["epoch"] == 4  # the last one
    assert max(values) == plugin.best  # and the best one
    assert read_latest(tmp_path) == list_checkpoints(tmp_path)[-1].name


def test_an_exception_at_a_boundary_is_saved(tmp_path: Path) -> None:
    plugin = Checkpoint(tmp_path, every_n_epochs=None, save_last=False)
    with pytest.raises(Crash):
        make_trainer([plugin, CrashAt(5)]).fit(make_data())
    (saved,) = _manifests(tmp_path)
    assert saved["trigger"] == "exception" and saved["position"]["batches_done"] == 5


class FailAfterBackward:
    def on_after_backward(self, state: Any) -> None:
        if state.micro_step == 8:
            raise RuntimeError("half a step done")


def test_an_exception_mid_step_is_not_saved_and_names_the_last_checkpoint(
    tmp_path: Path,
) -> None:
    plugin = Checkpoint(tmp_path, every_n_steps=3, every_n_epochs=None, save_last=False)
    with pytest.raises(RuntimeError, match="half a step") as info:
        make_trainer([plugin, FailAfterBackward()]).fit(make_data())
    assert _steps(tmp_path) == [3, 6]
    assert any("step-000000006" in note for note in info.value.__notes__)


def test_bad_settings_are_listed_together() -> None:
    with pytest.raises(ConfigError) as info:
        Checkpoint(every_n_steps=0, keep_last=0, mode="best")  # type: ignore[arg-type]
    message = str(info.value)
    assert "every_n_steps=0" in message and "keep_last=0" in message and "mode='best'" in message


def test_no_directory_and_no_run_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RunStore"):
        make_trainer([Checkpoint()]).fit(make_data())


def test_checkpoint_is_side_effect_free_on_the_model(tmp_path: Path) -> None:
    plain = make_trainer(max_epochs=1)
    plain.fit(make_data())
    saving = make_trainer([Checkpoint(tmp_path, every_n_steps=1)], max_epochs=1)
    saving.fit(make_data())
    assert plain.state.model is not None and saving.state.model is not None
    for a, b in zip(plain.state.model.parameters(), saving.state.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resuming_an_older_checkpoint_makes_its_attempt_the_newest(tmp_path: Path) -> None:
    make_trainer([Checkpoint(tmp_path, every_n_steps=2, keep_last=None)]).fit(make_data())
    early = tmp_path / "step-000000004"
    assert early.is_dir() and (tmp_path / "step-000000018").is_dir()
    with pytest.raises(Crash):
        plugins = [Checkpoint(tmp_path, every_n_steps=2, keep_last=2), CrashAt(9)]
        make_trainer(plugins).fit(make_data(), resume=early)
    newest, _ = newest_valid(tmp_path)
    assert newest == tmp_path / "step-000000009"  # `latest`: the new attempt, not the 18
    names = [p.name for p in list_checkpoints(tmp_path)]
    # keep_last counts the new attempt's line (4: resumed from); the abandoned attempt's
    # 10..18 are neither counted nor deleted (they are re-saved over as training reaches them)
    abandoned = [f"step-{s:09d}" for s in range(10, 19, 2)]
    assert names == ["step-000000004", "step-000000008", "step-000000009", *abandoned]


def test_old_checkpoints_are_deleted_only_after_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save, calls = torch.save, [0]

    def failing_third(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        calls[0] += 1
        if calls[0] >= 3:  # the disk stays full: the exception save fails too
            raise OSError(28, "No space left on device")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_third)
    plugin = Checkpoint(tmp_path, every_n_steps=1, keep_last=1, keep_best=0)
    with pytest.raises(Exception, match="could not write checkpoint"):
        make_trainer([plugin]).fit(make_data())
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000000002"]
    assert read_latest(tmp_path) == "step-000000002"
