"""CI runs the README's set-up commands exactly as the README writes them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The commands of the README's first bash block under "Set up and run"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set up and run", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README: no bash block under 'Set up and run'"
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def ci_commands() -> list[str]:
    """The ``readme '...'`` lines of .ci/run, unquoted."""
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    return re.findall(r"^readme '([^']*)'$", text, re.M)


def test_ci_runs_the_readme_commands_as_written():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].startswith("python -m pip install torch==2.13.0 -e . && ")
    assert commands[1].endswith("&& python -m pytest -q")
    assert ci_commands() == commands


def test_ci_makes_a_fresh_venv_and_unsets_the_callers_paths():
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    venv, readme = text.index('python -m venv "$VENV"'), text.index("\nreadme '")
    assert venv < text.index("unset PYTHONPATH") < readme


def test_numpy_is_declared_and_the_demo_ships_in_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(re.match(r"numpy\b", dep) for dep in project["dependencies"])
    assert (ROOT / "unitrain" / "examples" / "digits.py").is_file()
