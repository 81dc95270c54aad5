"""A run config's functions, options and plugins checked before anything runs: every
problem at once, in line order, each with its file:line and a suggestion."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from unitrain.config import load_run_config
from unitrain.config.builtins import lr_scheduler
from unitrain.errors import ConfigError

TRAIN = """\
def make_task(lr=0.1, hidden=8):
    raise AssertionError("checking a config never calls the task function")

def make_data(batch_size):
    raise AssertionError("checking a config never calls the data function")
"""

BAD = """\
task = "train.py:make_tsk"
data = "train.py:make_data"
plugins = ["nan_gaurd", "gradient_clipping"]
callbacks = []

[data_options]
batchsize = 3

[trainer]
max_epoch = 3
gradient_clip_val = 1.0
accumulate_grad_batches = 2

[run]
sed = 1

[plugin_options.gradient_clipping]
max_nrom = 1.0

[plugin_options.tensorbord]
x = 1
"""


def problems_of(tmp_path: Path, text: str, plugins: list[str] | None = None) -> list[str]:
    (tmp_path / "train.py").write_text(TRAIN)
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_run_config(path, plugins=plugins, env={})
    head, *lines = str(caught.value).splitlines()
    assert head == f"{len(lines)} problem(s) in {path}:"
    return [line.removeprefix(f"  - {path}") for line in lines]


def test_every_problem_at_once_in_line_order(tmp_path):
    found = problems_of(tmp_path, BAD, plugins=["metrics_log"])
    lines = [int(m.group(1)) for p in found if (m := re.match(r":(\d+): ", p))]
    assert lines == sorted(lines) == [1, 3, 4, 7, 10, 11, 12, 15, 18, 20]
    text = "\n".join(found)
    assert ":1: task = 'train.py:make_tsk': " in text and "did you mean 'make_task'?" in text
    assert ":3: plugins: 'nan_gaurd' is not a built-in or installed plugin; did you mean " \
        "'nan_guard'?" in text  # fmt: skip
    assert ":7: data_options.batchsize: make_data() has no option 'batchsize'; did you mean " \
        "'batch_size'? (make_data() takes: batch_size)" in text  # fmt: skip
    # a bad key under [trainer] lists [trainer]'s keys, not the top level's
    assert ":10: trainer.max_epoch: unknown setting; did you mean 'max_epochs'? ([trainer] " \
        "keys: max_epochs, max_steps, accumulation," in text  # fmt: skip
    assert "give max_epochs or max_steps" not in text  # no follow-on error
    assert ":15: run.sed: unknown setting; did you mean 'seed'? ([run] keys: root," in text
    assert ":18: plugin_options.gradient_clipping.max_nrom: plugin 'gradient_clipping' has no " \
        "option 'max_nrom'; did you mean 'max_norm'?" in text  # fmt: skip
    assert ":20: plugin_options.tensorbord: no plugin is named 'tensorbord'; did you mean " \
        "'tensorboard'?" in text  # fmt: skip
    # the plugin enabled on the command line needs an option no file line sets
    assert found[-1].startswith("  - -p metrics_log: plugin_options.metrics_log: plugin ")
    assert "needs 'path' (no default)" in found[-1]


def test_lightning_names_point_to_the_unitrain_spelling(tmp_path):
    text = "\n".join(problems_of(tmp_path, BAD))
    assert ":4: callbacks: unknown setting (a Lightning name); unitrain's is plugins = " in text
    assert ":11: trainer.gradient_clip_val: unknown setting (a Lightning name)" in text
    assert 'unitrain\'s is plugins = ["gradient_clipping"] and [plugin_options.' in text
    assert ":12: trainer.accumulate_grad_batches: unknown setting (a Lightning name); " \
        "unitrain's is accumulation under [trainer]" in text  # fmt: skip
    precision = 'task = "train.py:make_task"\ndata = "train.py:make_data"\nprecision = 16\n' \
        "data_options = { batch_size = 2 }\n[trainer]\nmax_epochs = 1\n"  # fmt: skip
    (line,) = problems_of(tmp_path, precision)
    assert line.startswith(":3: precision: unknown setting (a Lightning name)")
    assert 'plugins = ["mixed_precision"]' in line


def test_required_task_options_and_a_good_config(tmp_path):
    good = 'task = "train.py:make_task"\ndata = "train.py:make_data"\n[trainer]\nmax_epochs = 1\n'
    (line,) = problems_of(tmp_path, good, plugins=[])
    assert line.startswith(": data_options: make_data() needs 'batch_size' (no default)")
    path = tmp_path / "run.toml"
    path.write_text(good.replace("[trainer]", "[data_options]\nbatch_size = 4\n[trainer]"))
    config = load_run_config(
        path, ["plugin_options.gradient_clipping.max_norm=1.0"], plugins=["gradient_clipping"]
    )
    assert config.plugin_options == {"gradient_clipping": {"max_norm": 1.0}}


def test_options_of_a_plugin_that_is_not_enabled(tmp_path):
    text = (
        'task = "train.py:make_task"\ndata = "train.py:make_data"\n'
        "data_options = { batch_size = 2 }\n[trainer]\nmax_epochs = 1\n"
        "[plugin_options.nan_guard]\npolicy = 'skip'\n"
    )
    (line,) = problems_of(tmp_path, text, plugins=[])
    assert line == (
        ":6: plugin_options.nan_guard: the plugin 'nan_guard' is not enabled; add it to "
        'plugins = ["nan_guard"] (or pass -p nan_guard)'
    )
    path = tmp_path / "run.toml"
    assert load_run_config(path, plugins=["nan_guard"]).plugin_options["nan_guard"]
    assert load_run_config(path, plugins=["no:nan_guard"])  # switched off on purpose


def test_lr_scheduler_by_name_checks_its_options():
    plugin = lr_scheduler("StepLR", options={"step_size": 2}, interval="epoch")
    assert plugin.interval == "epoch"
    with pytest.raises(ConfigError, match=r"did you mean 'CosineAnnealingLR'\?"):
        lr_scheduler("CosineAnnealing")
    with pytest.raises(ConfigError, match=r"'stepsize' \(did you mean 'step_size'\?\)"):
        lr_scheduler("StepLR", options={"stepsize": 2})
