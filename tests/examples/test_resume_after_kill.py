"""The resume-after-kill example: a killed child run, resumed, equals an uninterrupted run."""

import signal
from pathlib import Path

import pytest

from tests.example_scripts import load_example


@pytest.mark.parametrize(("name", "code"), [("kill", -signal.SIGKILL), ("term", 143)])
def test_resume_after_a_kill_is_bit_exact(tmp_path: Path, capsys, name: str, code: int) -> None:
    example = load_example("resume_after_kill/train.py", "resume_after_kill_example")
    argv = ["--epochs", "2", "--kill-at-step", "15", "--signal", name, "--root", str(tmp_path)]
    assert example.main(argv) == 0
    out = capsys.readouterr().out
    assert f"exit {code}\n" in out
    assert "status COMPLETED, restarts 1" in out
    assert "weights equal the uninterrupted run's, bit for bit: True" in out
    assert sorted(example.logged_steps(tmp_path)) == list(range(1, 41))


def test_refuses_a_kill_point_outside_the_run(tmp_path: Path) -> None:
    example = load_example("resume_after_kill/train.py", "resume_after_kill_example")
    with pytest.raises(SystemExit, match="between 11 and 39"):
        example.main(["--epochs", "2", "--kill-at-step", "40", "--root", str(tmp_path)])
