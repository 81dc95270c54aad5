"""``benchmarks/startup.py``: its smoke mode runs every command, and its import-time
reading groups what only ``unitrain fit`` imports. Timings are printed, never asserted."""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name: str) -> ModuleType:
        return importlib.import_module(name)

    return load


def test_smoke_runs_every_command(load: Any, capsys: pytest.CaptureFixture[str]) -> None:
    values = load("startup").main(["--smoke"])
    out = capsys.readouterr().out
    lines = dict(re.findall(r"^(\w+)=(\S+)$", out, flags=re.MULTILINE))
    for name in ("startup_ratio", "startup_noise_floor", "startup_cpu_ratio", "python_s"):
        assert math.isfinite(float(lines[name])) and float(lines[name]) > 0, name
        assert float(lines[name]) == pytest.approx(values[name], abs=1e-4)
    # both training commands reached their first step (else the stamp is missing: nan)
    assert values["fit_first_step_s"] > 0 and values["plain_first_step_s"] > 0
    assert "repeat 1/1" in out


def test_extra_imports_groups_what_only_fit_imports(load: Any) -> None:
    plain = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:      1000 |       1000 | torch\n"
    )
    fit = (
        "import time:      1000 |       1000 | torch\n"
        "import time:       300 |        300 |   pydantic.main\n"
        "import time:       200 |        500 | pydantic\n"
        "import time:        40 |         40 |     unitrain.cli.parser\n"
        "import time:        60 |        100 |   unitrain.cli\n"
        "import time:        30 |         30 | unitrain.core.state\n"
    )
    rows = load("startup").extra_imports(plain, fit, top=10)
    assert rows == [(0.5, "pydantic", 2), (0.1, "unitrain.cli", 2), (0.03, "unitrain.core", 1)]
