"""The run config (``unitrain fit run.toml``) as a pydantic model.

A complete example::

    task = "train.py:make_task"         # a function returning a unitrain.Task
    data = "train.py:make_data"         # a function returning the data (see RunConfig.data)
    plugins = ["csv-log"]               # entry-point plugins to enable (`unitrain plugins`)

    [task_options]                      # keyword arguments of the task function
    lr = 0.003

    [data_options]                      # keyword arguments of the data function
    batch_size = 64

    [trainer]                           # unitrain.Trainer's settings
    max_epochs = 5
    device = "cpu"

    [run]                               # where and how the run is recorded
    root = "runs"
    experiment = "digits"

    [plugin_options.csv-log]            # keyword arguments of one plugin's class or factory
    every = 10
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from unitrain.core.config import TrainerConfig
from unitrain.runs.names import NAME_RULE, name_problem

__all__ = ["RunConfig", "RunSection"]


class RunSection(BaseModel):
    """Where the run directory goes and what the CLI adds to every run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = Field(default="runs", description="folder that holds the experiments")
    experiment: str = Field(default="default", min_length=1, description="sub-folder name")
    seed: int | None = Field(default=0, description="torch.manual_seed before the task is made")
    metrics_every_n_steps: int = Field(
        default=10, ge=0, description="log the training loss every N optimizer steps (0: never)"
    )
    progress: bool = Field(default=True, description="show a progress display")
    checkpoint_every_n_epochs: int = Field(
        default=1, ge=0, description="save a checkpoint every N epochs (0: no checkpoints)"
    )

    @field_validator("experiment")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # the experiment becomes one folder under root: no '/', no '..' (see runs/names.py)
        problem = name_problem(value)
        if problem is not None:
            raise ValueError(f"not a plain folder name: {problem}; use {NAME_RULE}")
        return value


class RunConfig(BaseModel):
    """Everything ``unitrain fit`` needs; every problem is reported at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(
        description="'module:function' or 'path/to/file.py:function' returning a unitrain.Task "
        "(a relative path is relative to the config file)"
    )
    task_options: dict[str, Any] = Field(default_factory=dict)
    data: str = Field(
        description="'module:function' or 'file.py:function' returning the train data, a "
        "(train, eval) pair, or a mapping with keys 'train', 'eval' (a loader or "
        "{split: loader}) and 'predict'"
    )
    data_options: dict[str, Any] = Field(default_factory=dict)
    trainer: TrainerConfig
    plugins: list[str] = Field(
        default_factory=list, description="entry-point plugins to enable; 'no:NAME', 'all'"
    )
    strict_plugins: bool = Field(default=True, description="a broken plugin fails the run")
    plugin_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    run: RunSection = Field(default_factory=RunSection)
