"""A run config for the tiny task, and one finished `unitrain fit` shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from unitrain.testing import FitRun, run_fit


def tiny_config(root: Path, **trainer: Any) -> dict[str, Any]:
    """A run config (as a mapping) training the tiny task on the tiny data."""
    return {
        "task": "unitrain.testing.tiny:tiny_task",
        "data": "unitrain.testing.tiny:tiny_data",
        "trainer": {"max_epochs": 2, "device": "cpu", **trainer},
        "run": {"root": str(root / "runs"), "metrics_every_n_steps": 1},
    }


@pytest.fixture(scope="session")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> FitRun:
    """`unitrain fit` run once in a subprocess, for the tests that read its run folder."""
    workdir = tmp_path_factory.mktemp("fitted")
    result = run_fit(tiny_config(workdir), workdir).check()
    assert result.run_dir is not None
    return result
