"""The trainer's settings as a pydantic model: every problem reported at once."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unitrain.errors import ConfigError

__all__ = ["TrainerConfig", "make_config"]


class TrainerConfig(BaseModel):
    """How long to train, how often to evaluate, where to run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_epochs: int | None = Field(default=None, ge=1, description="training epochs")
    max_steps: int | None = Field(default=None, ge=1, description="optimizer steps in all")
    accumulation: int = Field(default=1, ge=1, description="batches per optimizer step")
    eval_every_epochs: int | None = Field(default=1, ge=1, description="evaluate every N epochs")
    eval_every_steps: int | None = Field(default=None, ge=1, description="evaluate every N steps")
    limit_train_batches: int | None = Field(default=None, ge=1, description="batches per epoch")
    device: str | None = Field(default=None, description="'cpu', 'cuda', 'cuda:1'; None: auto")

    @model_validator(mode="after")
    def _length_given(self) -> TrainerConfig:
        if self.max_epochs is None and self.max_steps is None:
            raise ValueError("give max_epochs or max_steps (or both) to say how long to train")
        return self


def make_config(**settings: Any) -> TrainerConfig:
    """Build a :class:`TrainerConfig`, turning pydantic's errors into one ConfigError."""
    try:
        return TrainerConfig(**settings)
    except ValidationError as error:
        raise ConfigError(describe_errors(error, TrainerConfig)) from None


def describe_errors(error: ValidationError, model: type[BaseModel]) -> str:
    """One line per problem: where, what was wrong, what was given, and a suggestion."""
    known = list(model.model_fields)
    lines = [f"{len(error.errors())} problem(s) in the {model.__name__} settings:"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(settings)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(problem["loc"][-1]), known, n=1)
            message = "unknown setting" + (f"; did you mean {close[0]!r}?" if close else "")
        given = "" if problem["type"] == "value_error" else f" (got {problem['input']!r})"
        lines.append(f"  - {where}: {message}{given}")
    lines.append(f"  valid settings: {', '.join(known)}")
    return "\n".join(lines)
