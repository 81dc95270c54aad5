"""``unitrain fit`` imports what the run uses and nothing else (benchmarks/startup.py).

A real ``unitrain fit`` subprocess whose task writes ``sorted(sys.modules)`` at the end of
its first step: the plugins the config enables are there, the other built-in and
installed plugins' modules, the optional extras and the other commands' modules are not.
No timings are asserted (the machines are shared); ``benchmarks/startup.py`` measures them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from unitrain.config.builtins import BUILTIN_PLUGINS
from unitrain.testing import FitRun

# The task of the run: it records the modules loaded when its first step has ended.
RECORDING_TASK = """
import json, sys
from torch import nn
import unitrain as ut
from unitrain.hooks.markers import hookimpl
from unitrain.testing.tiny import tiny_task

OUT = {out!r}


class Recording(ut.Task):
    @hookimpl
    def on_train_step_end(self, state, batch, result):
        if state.global_step == 1:
            with open(OUT, "w") as stream:
                json.dump(sorted(sys.modules), stream)


def make_task():
    made = tiny_task()
    return Recording(made.model, loss=nn.CrossEntropyLoss(), optimizer=made.optimizer)
"""

PLUGIN = "class {name}:\n    name = {entry!r}\n\n    def on_fit_start(self, state):\n        pass\n"

# Optional extras and modules of other commands or layers a plain `fit` never needs.
NEVER = (
    "matplotlib",
    "mlflow",
    "tensorboard",
    "torch.utils.tensorboard",
    "yaml",
    "ignite",
    "lightning",
    "torchmetrics",
    "boto3",
    "torch.distributed.elastic",
    "rich.table",
    "unitrain.bus",
    "unitrain.compat",
    "unitrain.lr_finder",
    "unitrain.cli.info_cmds",
    "unitrain.report.page",
    "unitrain.report.plots",
    "unitrain.report.records",
    "unitrain.distributed.launcher",
    "unitrain.distributed.plugin",
    "unitrain.distributed.fsdp_checkpoint",
    "unitrain.plugins.lr_scheduler",  # the lr_scheduler built-in's class
)
# Plugins the command adds by itself unless the run config turns them off.
COMMAND_ADDS = {
    "checkpoint": "unitrain.plugins.checkpoint",
    "progress": "unitrain.plugins.progress",
    "lr_log": "unitrain.plugins.lr_monitor",  # LearningRateLog is a LearningRateMonitor
}


def builtin_module(name: str) -> str:
    return BUILTIN_PLUGINS[name].partition(":")[0]


def loaded(module: str, modules: set[str]) -> bool:
    return module in modules or any(m.startswith(module + ".") for m in modules)


@pytest.fixture
def fit_modules(
    fake_distribution: Callable[..., Path],
    unitrain_fit: Callable[..., FitRun],
    tmp_path: Path,
) -> Callable[..., set[str]]:
    """``fit_modules(config_extra, args)``: the modules a real `unitrain fit` had loaded
    at its first step's end, with two installed third-party plugins (``on_plug``,
    ``off_plug``) beside the built-ins."""
    site = fake_distribution(
        "ut-startup",
        "1.0",
        entry_points={
            "unitrain": {"on_plug": "ut_on_plug:On", "off_plug": "ut_off_plug:Off"},
        },
        modules={
            "ut_on_plug.py": PLUGIN.format(name="On", entry="on_plug"),
            "ut_off_plug.py": PLUGIN.format(name="Off", entry="off_plug"),
        },
    )
    out = tmp_path / "modules.json"
    (tmp_path / "job.py").write_text(RECORDING_TASK.format(out=str(out)), encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))

    def run(config: dict[str, Any], args: tuple[str, ...] = ()) -> set[str]:
        data = {
            "task": str(tmp_path / "job.py") + ":make_task",
            "data": "unitrain.testing.tiny:tiny_data",
            **config,
            "trainer": {"max_steps": 1, "device": "cpu"},
        }
        unitrain_fit(data, args=args, env={"PYTHONPATH": path, "UNITRAIN_PLUGINS": ""}).check()
        return set(json.loads(out.read_text(encoding="utf-8")))

    return run


def test_fit_imports_the_enabled_plugins_only(fit_modules: Callable[..., set[str]]) -> None:
    config = {
        "plugins": ["nan_guard", "on_plug"],
        "plugin_options": {"gradient_clipping": {"max_norm": 1.0}},
    }
    modules = fit_modules(config, ("-p", "gradient_clipping"))
    enabled = {"nan_guard", "gradient_clipping"}
    assert "ut_on_plug" in modules  # a third-party plugin the config enables
    assert {builtin_module(n) for n in enabled} <= modules
    assert set(COMMAND_ADDS.values()) <= modules  # the run's defaults: progress, checkpoints
    assert "ut_off_plug" not in modules  # installed, not enabled
    skipped = set(BUILTIN_PLUGINS) - enabled - set(COMMAND_ADDS) - {"lr_monitor"}
    for name in sorted(skipped):
        module = builtin_module(name)
        if module != "unitrain.config.builtins":  # the lr_scheduler factory's table module
            assert module not in modules, f"{module}: plugin {name!r} is not enabled"
    for module in NEVER:
        assert not loaded(module, modules), f"{module} is imported by a plain fit"
    assert "rich.progress" not in modules  # output is not a terminal: plain lines, no bars


def test_fit_without_the_commands_own_plugins_imports_none(
    fit_modules: Callable[..., set[str]],
) -> None:
    run = {"progress": False, "metrics_every_n_steps": 0, "checkpoint_every_n_epochs": 0}
    modules = fit_modules({"run": run})
    for name, module in COMMAND_ADDS.items():
        assert module not in modules, f"{module}: the run turned {name!r} off"
    plugin_modules = {m for m in modules if m.startswith("unitrain.plugins.")}
    assert plugin_modules == {"unitrain.plugins.run_store"}  # the run folder, always
    assert "rich.progress" not in modules and "ut_on_plug" not in modules
