"""SIGTERM to the process that launched the ranks: every rank takes part in one checkpoint
(trigger "signal") and the script exits 143, as a single process does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from unitrain.runs.checkpoint import list_checkpoints, load_checkpoint

SCRIPT = Path(__file__).parent / "scripts" / "sigterm_launcher.py"
ROOT = Path(__file__).parents[2]


def test_sigterm_to_the_launcher_checkpoints_every_rank_and_exits_143(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "ready").exists():
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the ranks never reached step 3"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 143, stderr[-3000:]
    checkpoints = list_checkpoints(tmp_path / "checkpoints")
    assert checkpoints, stderr[-3000:]
    newest = load_checkpoint(checkpoints[-1])
    assert newest["manifest"]["trigger"] == "signal"
    assert len(newest["state"]["rank_data_orders"]) == 2  # both ranks gave their state
    assert "KeyboardInterrupt" not in stderr
