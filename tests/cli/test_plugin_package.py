"""examples/plugin-package installed for real into a venv (offline), then used by unitrain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from unitrain.testing import run_cli, run_fit

from ._venv import make_venv, run
from .conftest import tiny_config

PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "plugin-package"


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv seeing this environment's packages, with the example installed from a copy.

    ``--no-build-isolation --no-deps --no-index``: setuptools and unitrain come from this
    environment, so nothing is downloaded.
    """
    root = tmp_path_factory.mktemp("plugin-package")
    source = root / "src"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    python = make_venv(root)
    run(python, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", source)
    return python


def test_the_package_own_tests_pass_with_unitrain_fixtures(venv_python, tmp_path):
    """Run on a copy: the installed package is imported, not the source folder."""
    tests = tmp_path / "tests"
    shutil.copytree(PACKAGE / "tests", tests)
    done = run(venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests, cwd=tmp_path)
    assert "4 passed" in done.stdout


def test_unitrain_plugins_lists_the_installed_package(venv_python):
    result = run_cli(["plugins", "-p", "epoch-timer", "--json"], python=venv_python).check()
    (row,) = [r for r in json.loads(result.stdout) if r["name"] == "epoch-timer"]
    assert row == {
        "name": "epoch-timer",
        "builtin": False,
        "distribution": "unitrain-epoch-timer",
        "version": "0.1.0",
        "target": "unitrain_epoch_timer:EpochTimer",
        "enabled": True,
        "options": None,
    }


def test_a_fit_uses_the_plugin_with_its_options(venv_python, tmp_path):
    config = tiny_config(tmp_path)
    config["plugin_options"] = {"epoch-timer": {"log_every": 2}}
    result = run_fit(config, tmp_path, args=["-p", "epoch-timer"], python=venv_python).check()
    assert "unitrain.ext.epoch_timer: epoch 2 took" in result.stderr
    assert "epoch 1 took" not in result.stderr  # log_every=2 reached the constructor
    saved = torch.load(result.run_dir / "artifacts" / "model.pt", weights_only=True)
    assert len(saved["plugins"]["epoch-timer"]["seconds"]) == 2
