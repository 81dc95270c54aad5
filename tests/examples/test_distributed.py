"""The distributed example: 2 spawned CPU processes end where 1 process ends."""

import os
import subprocess
import sys

from tests.example_scripts import EXAMPLES


def test_two_processes_match_one_process_with_the_same_global_batch() -> None:
    # Run as a script, as a user would: spawn re-imports it under its __main__ guard.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "distributed" / "train.py"), "--epochs", "3"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "the two runs agree" in lines
    accuracies = [line.split("test accuracy ")[1][:6] for line in lines if "test accuracy" in line]
    assert len(accuracies) == 2 and accuracies[0] == accuracies[1]
    assert float(accuracies[0]) >= 0.9
