"""The run config: located errors, did-you-mean, overrides, YAML, TOML round trip."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unitrain.config import RunConfig, apply_overrides, dump_toml, load_run_config
from unitrain.config.source import locate_key
from unitrain.errors import ConfigError

BAD_TOML = """\
task = "unitrain.testing.tiny:tiny_task"
dta = "unitrain.testing.tiny:tiny_data"

[trainer]
max_epoch = 3
accumulation = "two"

[run]
seed = 1
"""

GOOD_TOML = """\
task = "train.py:make_task"
data = "unitrain.testing.tiny:tiny_data"

[trainer]
max_epochs = 2
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    """The config file, beside a train.py with the task function GOOD_TOML names."""
    (tmp_path / "train.py").write_text("def make_task(lr=0.1):\n    pass\n")
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_problem_at_once_with_line_and_suggestion(tmp_path):
    path = write(tmp_path, "run.toml", BAD_TOML)
    with pytest.raises(ConfigError) as caught:
        load_run_config(path)
    message = str(caught.value)
    assert message.startswith(f"4 problem(s) in {path}:")
    assert f"{path}:2: dta: unknown setting; did you mean 'data'?" in message
    assert f"{path}:5: trainer.max_epoch: unknown setting; did you mean 'max_epochs'?" in message
    assert f"{path}:6: trainer.accumulation: Input should be a valid integer" in message
    assert message.endswith(f"{path}: data: Field required")  # no line: after those with one
    # the misspelt max_epoch is one mistake: no follow-on "give max_epochs or max_steps"
    assert "max_steps" not in message.replace("max_epochs, max_steps", "")


def test_yaml_errors_are_located_too(tmp_path):
    pytest.importorskip("yaml")
    path = write(
        tmp_path,
        "run.yaml",
        "task: train.py:make_task\ndata: train.py:make_task\ntrainer:\n  max_epochs: 2\n"
        "  devise: cpu\nrun:\n  sed: 3\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_run_config(path)
    message = str(caught.value)
    assert f"{path}:5: trainer.devise: unknown setting; did you mean 'device'?" in message
    assert f"{path}:7: run.sed: unknown setting; did you mean 'seed'?" in message
    path.write_text(
        "task: train.py:make_task\ndata: train.py:make_task\ntrainer:\n  max_epochs: 2\n"
        "run:\n  seed: null\n"
    )
    config = load_run_config(path)
    assert config.trainer.max_epochs == 2 and config.run.seed is None


def test_overrides_are_typed_and_located(tmp_path):
    path = write(tmp_path, "run.toml", GOOD_TOML)
    config = load_run_config(
        path, ["trainer.max_epochs=5", "run.experiment=exp", "task_options.lr=0.5"]
    )
    assert config.trainer.max_epochs == 5
    assert config.run.experiment == "exp"
    assert config.task_options == {"lr": 0.5}
    with pytest.raises(ConfigError, match=r"--set trainer.max_epochs: trainer.max_epochs: Input"):
        load_run_config(path, ["trainer.max_epochs=[1]"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_run_config(path, ["trainer.max_epochs"])


def test_relative_file_targets_become_absolute(tmp_path):
    path = write(tmp_path, "run.toml", GOOD_TOML)
    config = load_run_config(path)
    assert config.task == f"{tmp_path.resolve() / 'train.py'}:make_task"
    assert config.data == "unitrain.testing.tiny:tiny_data"


def test_invalid_toml_and_unknown_format(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        load_run_config(write(tmp_path, "bad.toml", "a = 1\nb = = 2\n"))
    with pytest.raises(ConfigError, match=r"unknown config format '\.ini'"):
        load_run_config(write(tmp_path, "run.ini", "[x]\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(tmp_path / "missing.toml")


def test_override_into_a_scalar_is_refused():
    with pytest.raises(ConfigError, match="task is a str, not a table"):
        apply_overrides({"task": "a:b"}, ["task.x=1"])


def test_locate_key_finds_tables_and_dotted_keys():
    text = '[trainer]\nmax_epochs = 1\n\n[plugin_options."csv-log"]\nevery = 3\n'
    assert locate_key(text, ("trainer", "max_epochs")) == 2
    assert locate_key(text, ("plugin_options", "csv-log", "every")) == 5
    assert locate_key(text, ("plugin_options", "csv-log", "other")) == 4
    assert locate_key(text, ("nothing",)) is None


def test_resolved_config_reads_back_equal(tmp_path):
    config = load_run_config(write(tmp_path, "run.toml", GOOD_TOML), ["plugin_options.x.k=1"])
    text = dump_toml(config.model_dump(mode="json"))
    assert RunConfig.model_validate(tomllib.loads(text)) == config


keys = st.text(alphabet="abcxyz_-. ", min_size=1, max_size=6)
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
)
tables = st.recursive(
    st.dictionaries(keys, scalars, max_size=4),
    lambda children: st.dictionaries(keys, st.one_of(scalars, children), max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_dump_toml_round_trips(data):
    assert tomllib.loads(dump_toml(data)) == data
