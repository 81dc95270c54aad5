"""The trainer's settings as a pydantic model: every problem reported at once."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from unitrain.errors import ConfigError

__all__ = ["TrainerConfig", "make_config"]


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
    device: str | None = Field(default=None, description="'cpu', 'cuda', 'cuda:1'; None: auto")

    # Field validators, not a model validator: pydantic skips model validators when a field
    # is invalid, and every problem must be reported at once.
    @field_validator("max_steps")
    @classmethod
    def _length_given(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None and "max_epochs" in info.data and info.data["max_epochs"] is None:
            raise ValueError("give max_epochs or max_steps (or both) to say how long to train")
        return value

    @field_validator("device")
    @classmethod
    def _device_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                torch.device(value)
            except RuntimeError as error:
                raise ValueError(f"{value!r} is not a torch device ({error})") from None
        return value


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
