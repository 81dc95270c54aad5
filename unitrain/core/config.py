"""The trainer's settings as a pydantic model: every problem reported at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, get_args

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from unitrain.errors import ConfigError

__all__ = ["TrainerConfig", "make_config", "parse_duration", "run_settings"]


class TrainerConfig(BaseModel):
    """How long to train, how often to evaluate, where to run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_epochs: int | None = Field(default=None, ge=1, description="training epochs")
    max_steps: int | None = Field(
        default=None, ge=1, validate_default=True, description="optimizer steps in all"
    )
    accumulation: int = Field(default=1, ge=1, description="batches per optimizer step")
    eval_every_epochs: int | None = Field(default=1, ge=1, description="evaluate every N epochs")
    eval_every_steps: int | None = Field(default=None, ge=1, description="evaluate every N steps")
    limit_train_batches: int | None = Field(default=None, ge=1, description="batches per epoch")
    limit_eval_batches: int | None = Field(
        default=None, ge=1, description="batches per evaluation pass"
    )
    fast_dev_run: int = Field(
        default=0, description="n batches of each phase, writing nothing (True: 1)"
    )
    overfit_batches: int | None = Field(
        default=None, ge=1, description="train and evaluate on the first N training batches"
    )
    max_time: float | None = Field(
        default=None, description="wall-clock limit of a fit in seconds (or timedelta, DD:HH:MM:SS)"
    )
    deterministic: bool = Field(default=False, description="deterministic torch kernels")
    device: str | None = Field(default=None, description="'cpu', 'cuda', 'cuda:1'; None: auto")

    @model_validator(mode="before")
    @classmethod
    def _dev_run_length(cls, data: Any) -> Any:
        # a dev run needs no length (it runs one epoch): it stands in for max_epochs here, so
        # the length check below passes; a before-validator runs even when fields are invalid
        if (
            isinstance(data, dict)
            and data.get("fast_dev_run") not in (None, False, 0)
            and data.get("max_epochs") is None
            and data.get("max_steps") is None
        ):
            return {**data, "max_epochs": 1}
        return data

    # Field validators, not a model validator: pydantic skips model validators when a field
    # is invalid, and every problem must be reported at once.
    @field_validator("max_steps")
    @classmethod
    def _length_given(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None and "max_epochs" in info.data and info.data["max_epochs"] is None:
            raise ValueError("give max_epochs or max_steps (or both) to say how long to train")
        return value

    @field_validator("fast_dev_run", mode="before")
    @classmethod
    def _dev_run_count(cls, value: Any) -> int:
        if isinstance(value, bool):
            return int(value)
        if not isinstance(value, int) or value < 0:
            raise ValueError(
                f"expected True / False or a number of batches >= 0, got {value!r}; "
                "fast_dev_run=True runs one batch of each phase"
            )
        return value

    @field_validator("overfit_batches")
    @classmethod
    def _overfit_alone(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("limit_train_batches") is not None:
            raise ValueError(
                "overfit_batches and limit_train_batches both set: overfit_batches already "
                "says how many training batches an epoch has; give only one"
            )
        return value

    @field_validator("max_time", mode="before")
    @classmethod
    def _max_time_seconds(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("device")
    @classmethod
    def _device_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                torch.device(value)
            except RuntimeError as error:
                raise ValueError(f"{value!r} is not a torch device ({error})") from None
        return value


_DURATION = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2}):(\d{1,2})$")


def parse_duration(value: object) -> float:
    """Seconds (a number), a ``datetime.timedelta`` or ``"DD:HH:MM:SS"`` → seconds (> 0)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match is None:
            raise ValueError(
                f"{value!r} is not a duration; write days:hours:minutes:seconds such as "
                "'00:12:00:00', or give seconds (a number) or a datetime.timedelta"
            )
        days, hours, minutes, secs = (int(part) for part in match.groups())
        seconds = float(((days * 24 + hours) * 60 + minutes) * 60 + secs)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(
            f"expected seconds (a number), a datetime.timedelta or 'DD:HH:MM:SS', got {value!r}"
        )
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"must be a finite time > 0, got {value!r} ({seconds} s)")
    return seconds


def run_settings(config: TrainerConfig) -> TrainerConfig:
    """The settings the loop runs by: ``fast_dev_run=n`` becomes one epoch of n training
    batches, an evaluation of n batches per split after it, and no step-based evaluation."""
    n = config.fast_dev_run
    if not n:
        return config
    return config.model_copy(
        update={
            "max_epochs": 1,
            "max_steps": None,
            "limit_train_batches": None if config.overfit_batches is not None else n,
            "overfit_batches": None
            if config.overfit_batches is None
            else min(n, config.overfit_batches),
            "limit_eval_batches": n,
            "eval_every_epochs": 1,
            "eval_every_steps": None,
            "max_time": None,
        }
    )


def make_config(**settings: Any) -> TrainerConfig:
    """Build a :class:`TrainerConfig`, turning pydantic's errors into one ConfigError."""
    try:
        return TrainerConfig(**settings)
    except ValidationError as error:
        raise ConfigError(describe_errors(error, TrainerConfig)) from None


def describe_errors(
    error: ValidationError,
    model: type[BaseModel],
    *,
    source: str | None = None,
    locate: Callable[[tuple[int | str, ...]], str | None] | None = None,
) -> str:
    """One line per problem: where, what was wrong, what was given, and a suggestion.

    ``source`` names what was validated (default: the model's settings); ``locate`` turns a
    problem's location into a prefix such as ``'run.toml:7'``. An unknown key inside a
    nested model gets its suggestion from that model's own fields.
    """
    known = list(model.model_fields)
    title = source or f"the {model.__name__} settings"
    lines = [f"{len(error.errors())} problem(s) in {title}:"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(settings)"
        if locate is not None and (place := locate(tuple(problem["loc"]))):
            where = f"{place}: {where}"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            names = _fields_at(model, tuple(problem["loc"][:-1]))
            close = difflib.get_close_matches(str(problem["loc"][-1]), names, n=1)
            message = "unknown setting" + (f"; did you mean {close[0]!r}?" if close else "")
        given = (
            "" if problem["type"] in ("value_error", "missing") else f" (got {problem['input']!r})"
        )
        lines.append(f"  - {where}: {message}{given}")
    lines.append(f"  valid settings: {', '.join(known)}")
    return "\n".join(lines)


def _fields_at(model: type[BaseModel], path: tuple[int | str, ...]) -> list[str]:
    """Field names of the (nested) model found by following ``path`` from ``model``."""
    current: Any = model
    for part in path:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current = fields[part].annotation
        current = next(
            (
                a
                for a in (current, *get_args(current))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
    return list(getattr(current, "model_fields", {}))
