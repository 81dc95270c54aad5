"""Battery: kills inside each step of the write protocol (re-saves included), and the order of
checkpoints under a clock that jumps back.

Each kill is a real SIGKILL of a forked child that is writing a checkpoint, delivered by
itself at one exact point of :func:`~unitrain.runs.checkpoint.write_checkpoint`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import unitrain.runs.checkpoint as ckpt
from tests.runs.battery import (
    EPOCHS,
    caught,
    crashed_run,
    metrics_of,
    plugins,
    resume,
    straight,
)
from tests.runs.trainkit import Crash, CrashAt, assert_same, make_data, make_trainer, snapshot
from unitrain.runs.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    newest_valid,
    read_latest,
    remove_stale,
    write_checkpoint,
)

NAME = "step-000000005"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _patch_kill(point: str) -> None:
    """In the child: arrange a SIGKILL at ``point`` of the next write."""
    if point == "in the state file":
        real_save = torch.save

        def half_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
            f.write(b"PK\x03\x04 half")
            f.flush()
            _die()

        torch.save = half_save  # type: ignore[assignment]
        del real_save
    elif point in ("in the manifest", "in latest"):
        real = ckpt._write_bytes

        def dying(path: Path, data: bytes) -> None:
            is_target = path.name == ckpt.MANIFEST or ".latest.tmp-" in path.name
            if is_target and (point == "in the manifest") == (path.name == ckpt.MANIFEST):
                path.write_bytes(data[: len(data) // 2])
                _die()
            real(path, data)

        ckpt._write_bytes = dying  # type: ignore[assignment]
    else:  # around the renames: the n-th rename of the write, then death
        nth = {"after the old one moved aside": 1, "after the commit rename": 2}[point]
        real_rename, count = os.rename, [0]

        def renaming(src: Any, dst: Any) -> None:
            real_rename(src, dst)
            count[0] += 1
            if count[0] == nth:
                _die()

        ckpt.os.rename = renaming  # type: ignore[assignment]


def _resave_child(directory: str, point: str, payload: dict[str, Any]) -> None:
    _patch_kill(point)
    write_checkpoint(directory, NAME, {"state.pt": payload}, meta={})
    os._exit(0)  # not reached


POINTS = [
    "in the state file",
    "in the manifest",
    "after the old one moved aside",
    "after the commit rename",
    "in latest",
]


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_inside_each_step_of_a_resave_loses_nothing(tmp_path: Path, point: str) -> None:
    old = write_checkpoint(tmp_path, NAME, {"state.pt": {"v": torch.ones(2)}}, meta={})
    child = multiprocessing.get_context("fork").Process(
        target=_resave_child, args=(str(tmp_path), point, {"v": torch.full((2,), 2.0)})
    )
    child.start()
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL
    found, skipped = newest_valid(tmp_path)  # repairs an interrupted re-save first
    assert found == old and skipped == []
    value = load_checkpoint(found)["state"]["v"]
    # the old content, or the new one once committed: never half of either, never nothing
    committed = point in ("after the commit rename", "in latest")
    assert torch.equal(value, torch.full((2,), 2.0 if committed else 1.0))
    assert read_latest(tmp_path) == NAME
    remove_stale(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["latest", NAME]


def test_a_kill_between_the_renames_of_a_resave_is_repaired_before_resume_looks(
    tmp_path: Path,
) -> None:
    # resuming re-saves the latest checkpoint's name (here: the crashed run's step 7, saved
    # again at the resumed fit's end); a kill between the two renames must not cost it
    root, run = crashed_run(tmp_path)
    checkpoints = run / "checkpoints"
    payload = load_checkpoint(checkpoints / "step-000000007")["state"]
    child = multiprocessing.get_context("fork").Process(
        target=_resave_step7, args=(str(checkpoints), payload)
    )
    child.start()
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL
    assert not (checkpoints / "step-000000007").exists()  # what the kill left
    assert read_latest(checkpoints) == "step-000000007"
    found, _ = newest_valid(checkpoints)
    assert found == checkpoints / "step-000000007"  # put back, not step 6
    trainer = resume(root)
    assert_same(straight()[0], snapshot(trainer))
    assert metrics_of(run) == straight()[1]


def _resave_step7(directory: str, payload: dict[str, Any]) -> None:
    _patch_kill("after the old one moved aside")
    write_checkpoint(directory, "step-000000007", {"state.pt": payload}, meta={})
    os._exit(0)


class _SlowClock:
    """``time`` for the checkpoint module, an hour behind (another machine's clock)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(time, name)  # type: ignore[no-any-return]


def test_training_position_not_the_clock_orders_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    options = {"keep_last": 3}
    first = make_trainer([*plugins(root, **options), CrashAt(9)], max_epochs=EPOCHS)
    with pytest.raises(Crash):
        first.fit(make_data(), eval_data=make_data())
    # the second attempt runs on a machine whose clock is an hour behind
    monkeypatch.setattr(ckpt, "time", _SlowClock(-3600.0))
    second = make_trainer([*plugins(root, **options), CrashAt(15)], max_epochs=EPOCHS)
    with pytest.raises(Crash):
        second.fit(make_data(), eval_data=make_data(), resume="latest")
    monkeypatch.undo()
    (run,) = (root / "default").iterdir()
    names = [p.name for p in list_checkpoints(run / "checkpoints")]
    assert names[-1] == "step-000000015"  # the new attempt's were not pruned as "older"
    assert read_latest(run / "checkpoints") == "step-000000015"
    with caught():
        trainer = resume(root, **options)  # from step 15, not 12 steps back
    assert_same(straight()[0], snapshot(trainer))
    assert metrics_of(run) == straight()[1]
