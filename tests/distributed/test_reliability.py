"""Ownership under two processes (gloo): a run folder whose lock a live process holds is
refused by a two-rank resume (rank 0 names the holder, every rank stops, nothing is written);
once the lock is free the same launch resumes the run and logs every step once."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from tests.distributed import _reliability as r
from tests.runs.battery import tree_state
from unitrain.distributed import launch
from unitrain.errors import WorkerError
from unitrain.runs.lock import RunLock

TIMEOUT = 90


def test_a_two_rank_resume_of_a_run_owned_elsewhere_is_refused(tmp_path: Path) -> None:
    launch(r.fit_run, "cpu:2", str(tmp_path), 1, start_method="fork", timeout=TIMEOUT)
    (run,) = (tmp_path / "default").iterdir()
    owner = RunLock(run)  # a live process (this one) owns the run
    owner.acquire()
    before = tree_state(run)
    try:
        with pytest.raises(WorkerError) as info:
            launch(r.fit_run, "cpu:2", str(tmp_path), 2, start_method="fork", timeout=TIMEOUT)
        text = f"{info.value}\n{info.value.worker_traceback}"
        assert info.value.rank == 0
        assert f"RunLockedError: run folder {run} is in use by pid {os.getpid()}" in text
        assert f"on host {socket.gethostname()}" in text
        after = tree_state(run)
        assert {k: v for k, v in after.items() if k != ".lock"} == {
            k: v for k, v in before.items() if k != ".lock"
        }
    finally:
        owner.release()
    ranks = launch(r.fit_run, "cpu:2", str(tmp_path), 2, start_method="fork", timeout=TIMEOUT)
    assert [rank["step"] for rank in ranks] == [8, 8]  # 32 samples / (2 ranks x 4) x 2 epochs
    info_json = json.loads((run / "run.json").read_text())
    assert info_json["status"] == "COMPLETED" and info_json["restarts"] == 1
    lines = (run / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(x)["step"] for x in lines if json.loads(x)["split"] == "train"]
    assert steps == list(range(1, 9))
