"""unitrain installed for real (``pip install .``, not editable) into a fresh venv: the demo
runs from the package alone, and the built-ins are entry points of unitrain's metadata."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ._venv import make_venv, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A venv with unitrain built from a copy of the source (so no checkout is beside it)."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", "runs", "build", "*.egg-info", "__pycache__", "tests", "benchmarks"
        ),
    )
    python = make_venv(root)
    run(python, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", source)
    shutil.rmtree(source)  # nothing but the installed package is left to run
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", PIP_NO_INDEX="1")
    return python, env


def test_the_demo_runs_from_a_non_editable_install(installed, tmp_path):
    python, env = installed
    where = run(python, "-c", "import unitrain; print(unitrain.__file__)", cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(python.parent.parent))  # the venv's copy, not a checkout
    out = tmp_path / "digits"
    args = ["--epochs", "2", "--out", str(out), "--target", "0.5", "--plain"]
    run(python, "-m", "unitrain", "demo", *args, cwd=tmp_path, env=env)
    assert json.loads((out / "result.json").read_text())["accuracy"] >= 0.5


def test_the_built_ins_are_entry_points_of_the_installed_unitrain(installed, tmp_path):
    python, env = installed
    code = (
        "from importlib.metadata import entry_points; "
        "print(sorted(e.name for e in entry_points(group='unitrain') "
        "if e.dist is not None and e.dist.name == 'unitrain'))"
    )
    names = run(python, "-c", code, cwd=tmp_path, env=env).stdout
    from unitrain.config.builtins import BUILTIN_PLUGINS

    assert names.strip() == str(sorted(BUILTIN_PLUGINS))
    listed = run(python, "-m", "unitrain", "plugins", "--json", cwd=tmp_path, env=env).stdout
    rows = [r for r in json.loads(listed) if r["builtin"]]
    # metadata and table are one plugin each, not listed twice
    assert sorted(r["name"] for r in rows) == sorted(BUILTIN_PLUGINS)
    assert {r["version"] for r in rows} == {"0.1.0"}
