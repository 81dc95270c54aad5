"""Imports stay lazy: ``import unitrain`` and the packages whose names load on first use.

Each check runs in a fresh interpreter (``sys.modules`` of the test process holds
everything the other tests imported). ``tests/cli/test_startup.py`` checks what a whole
``unitrain fit`` imports.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

LAZY_PACKAGES = (
    "unitrain",
    "unitrain.core",
    "unitrain.distributed",
    "unitrain.plugins",
    "unitrain.report",
)


def modules_after(code: str) -> set[str]:
    """The modules loaded in a fresh interpreter after running ``code``."""
    finished = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    return set(json.loads(finished.stdout.splitlines()[-1]))


def loaded(package: str, modules: set[str]) -> bool:
    return package in modules or any(m.startswith(package + ".") for m in modules)


def test_import_unitrain_loads_no_third_party_package() -> None:
    modules = modules_after("import unitrain")
    for heavy in ("torch", "rich", "pydantic", "pluggy", "numpy"):
        assert not loaded(heavy, modules), f"import unitrain loads {heavy}"
    assert {m for m in modules if m.startswith("unitrain")} == {
        "unitrain",
        "unitrain.errors",
        "unitrain.log",
    }


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        (
            "from unitrain.plugins import Checkpoint",
            [
                "unitrain.plugins.mlflow_log",
                "unitrain.plugins.tensorboard_log",
                "unitrain.plugins.profiler",
                "unitrain.plugins.progress",
                "unitrain.plugins.amp",
                "rich",
            ],
        ),
        (
            "import unitrain.trainer",
            [
                "unitrain.distributed.launcher",
                "unitrain.distributed.plugin",
                "unitrain.distributed.sampling",
                "torch.distributed.elastic",
                "unitrain.plugins.checkpoint",
                "unitrain.report",
                "rich",
            ],
        ),
        (
            "from unitrain.report import LearningRateLog",
            ["unitrain.report.plots", "unitrain.report.page", "unitrain.report.records"],
        ),
        ("import unitrain.cli", ["torch", "rich", "pydantic", "unitrain.cli.run_cmds"]),
    ],
)
def test_one_name_loads_its_module_only(code: str, absent: list[str]) -> None:
    modules = modules_after(code)
    for module in absent:
        assert not loaded(module, modules), f"{code!r} loads {module}"


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_lazy_name_is_exported_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    lazy: dict[str, str] = module._LAZY  # type: ignore[attr-defined]
    assert set(lazy) <= set(module.__all__)
    for name in module.__all__:
        value = getattr(module, name)
        if name in lazy:
            assert getattr(importlib.import_module(lazy[name]), name) is value, name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        module.Nope  # noqa: B018
