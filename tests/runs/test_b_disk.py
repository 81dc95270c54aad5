"""Battery: a disk that fills up in the middle of a run.

On a real small ``tmpfs`` (when this machine lets the test mount one: root in a container
that allows it) and, everywhere, with an injected ``ENOSPC``. The disk fills after step 6;
the checkpoint due at the next boundary cannot be written. Expected: a CheckpointError that
says so and names the path; every committed checkpoint still verifies; run.json, which could
not be updated either, is not believed (``unitrain runs`` shows CRASHED, not RUNNING, since
the lock is released); once space is free, the resume continues exactly.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import unitrain.runs.checkpoint as ckpt
import unitrain.runs.store as store
from tests.runs.battery import EPOCHS, caught, metrics_of, only_run, plugins, resume, straight
from tests.runs.trainkit import assert_same, make_data, make_trainer, snapshot
from unitrain.errors import CheckpointError
from unitrain.runs.checkpoint import newest_valid
from unitrain.runs.listing import live_status
from unitrain.runs.store import read_json

FULL_AFTER = 6


class Filler:
    """Fills the disk at the end of step ``FULL_AFTER`` (after its metrics were written)."""

    name = "filler"

    def __init__(self, fill: Any) -> None:
        self.fill = fill

    def on_train_step_end(self, state: Any) -> None:
        if state.global_step == FULL_AFTER:
            self.fill()


@pytest.fixture(params=["tmpfs", "injected"])
def small_disk(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Any, Any]]:
    """(a folder on the small disk, fill(), free())."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if request.param == "tmpfs":
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (the injected ENOSPC variant still runs)")
        filler = disk / "filler"

        def fill() -> None:
            with filler.open("wb", buffering=0) as stream:  # unbuffered: nothing left to flush
                for size in (1 << 16, 1 << 12, 1):
                    try:
                        while True:
                            stream.write(b"\0" * size)
                    except OSError as error:
                        assert error.errno == errno.ENOSPC

        def free() -> None:
            filler.unlink()

        try:
            yield disk, fill, free
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=False)
        return
    full = [False]

    def failing(real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if full[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]))
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(ckpt, "_create", failing(ckpt._create))
    monkeypatch.setattr(store, "write_json_atomic", failing(store.write_json_atomic))
    yield disk, lambda: full.__setitem__(0, True), lambda: full.__setitem__(0, False)


def test_a_full_disk_stops_the_run_clearly_and_loses_nothing(
    small_disk: tuple[Path, Any, Any],
) -> None:
    disk, fill, free = small_disk
    root = disk / "root"
    trainer = make_trainer(
        [*plugins(root, every_n_steps=1, keep_last=2), Filler(fill)], max_epochs=EPOCHS
    )
    with caught(), pytest.raises(CheckpointError) as info:
        trainer.fit(make_data(), eval_data=make_data())
    message = str(info.value)
    assert "could not write checkpoint" in message and "No space left on device" in message
    assert f"step-{FULL_AFTER:09d}" in message
    assert "previous checkpoints are untouched" in message
    run = only_run(root)
    found, skipped = newest_valid(run / "checkpoints")
    assert found is not None and found.name == f"step-{FULL_AFTER - 1:09d}" and skipped == []
    assert not [p for p in (run / "checkpoints").iterdir() if ".tmp-" in p.name]
    info_json = read_json(run / "run.json")
    assert live_status(run, info_json) != "RUNNING"  # FAILED, or CRASHED if even that failed
    free()
    shutil.rmtree(disk / "unused", ignore_errors=True)
    resumed = resume(root, every_n_steps=1, keep_last=2)
    assert_same(straight()[0], snapshot(resumed))
    assert metrics_of(run) == straight()[1]
    assert read_json(run / "run.json")["status"] == "COMPLETED"
