"""Problems of a run config: where each is, what is wrong, how to fix it; reported at once.

Every check of a run config adds :class:`Problem` s to one list instead of raising, so the
user sees every mistake of the file in one message, in the file's line order.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["Locate", "Problem", "check_call", "describe", "did_you_mean", "from_pydantic"]

Locate = Callable[[tuple[str, ...]], tuple[float, str]]
"""A key's path → (its line, ``math.inf`` when unknown; where to print, e.g. ``run.toml:7``)."""

# Lightning's Trainer arguments (and a few other frameworks') → how unitrain spells them.
LIGHTNING: Mapping[str, str] = {
    "gradient_clip_val": 'plugins = ["gradient_clipping"] and [plugin_options.gradient_clipping] '
    "max_norm = <value>",
    "gradient_clip_algorithm": 'plugins = ["gradient_clipping"] with max_norm = (norm) or '
    "max_value = (value) under [plugin_options.gradient_clipping]",
    "accumulate_grad_batches": "accumulation under [trainer]",
    "precision": 'plugins = ["mixed_precision"] and [plugin_options.mixed_precision] dtype = '
    '"bf16" (or "fp16")',
    "callbacks": "plugins = [...] at the top (built-in and installed plugin names; "
    "`unitrain plugins` lists them)",
    "logger": 'plugins = ["tensorboard"] or ["mlflow"] at the top',
    "check_val_every_n_epoch": "eval_every_epochs under [trainer]",
    "val_check_interval": "eval_every_steps under [trainer]",
    "accelerator": 'device under [trainer] ("cpu", "cuda", "cuda:1")',
    "devices": 'device under [trainer] ("cpu", "cuda", "cuda:1"); several GPUs: torchrun',
    "default_root_dir": "root under [run]",
    "enable_progress_bar": "progress under [run]",
    "enable_checkpointing": "checkpoint_every_n_epochs under [run] (0: none)",
    "log_every_n_steps": "metrics_every_n_steps under [run]",
    "seed_everything": "seed under [run]",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake: its line (for ordering), where to print, what is wrong."""

    line: float
    where: str
    message: str

    def render(self) -> str:
        return f"  - {self.where}: {self.message}" if self.where else f"  - {self.message}"


def describe(problems: Sequence[Problem], source: str) -> str:
    """One message, problems in line order (those outside the file last)."""
    ordered = sorted(problems, key=lambda p: p.line)
    lines = [f"{len(ordered)} problem(s) in {source}:", *(p.render() for p in ordered)]
    return "\n".join(lines)


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def from_pydantic(error: ValidationError, model: type[BaseModel], locate: Locate) -> list[Problem]:
    """pydantic's errors as problems: an unknown key gets a suggestion and its table's keys;
    a Lightning name gets unitrain's spelling; follow-on errors of a misspelt key are dropped."""
    errors = error.errors()
    unknown_trainer = {
        str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 2
    }
    # `max_epoch = 3` also makes max_steps look missing: one mistake, reported once.
    length_typo = any(
        difflib.get_close_matches(key, ["max_epochs", "max_steps"], n=1) for key in unknown_trainer
    )
    problems: list[Problem] = []
    for item in errors:
        loc = tuple(str(p) for p in item["loc"])
        dotted = ".".join(loc) or "(settings)"
        if item["type"] == "value_error" and loc == ("trainer", "max_steps") and length_typo:
            continue
        if item["type"] == "extra_forbidden":
            key, table = loc[-1], loc[:-1]
            names = _fields_at(model, table)
            if key in LIGHTNING:
                message = f"unknown setting (a Lightning name); unitrain's is {LIGHTNING[key]}"
            else:
                what = f"[{'.'.join(table)}]" if table else "top-level"
                message = (
                    f"unknown setting{did_you_mean(key, names)} ({what} keys: {', '.join(names)})"
                )
        else:
            message = item["msg"]
            if item["type"] not in ("value_error", "missing"):
                message += f" (got {item['input']!r})"
        line, where = locate(loc)
        problems.append(Problem(line, where, f"{dotted}: {message}"))
    return problems


def _fields_at(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """Field names of the (nested) model found by following ``path`` from ``model``."""
    current: Any = model
    for part in path:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        annotation = fields[part].annotation
        candidates = (annotation, *getattr(annotation, "__args__", ()))
        current = next(
            (a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
    return list(getattr(current, "model_fields", {}))


def check_call(
    target: Any,
    options: Mapping[str, Any],
    *,
    what: str,
    table: tuple[str, ...],
    locate: Locate,
    skip: Sequence[str] = (),
) -> list[Problem]:
    """Problems of calling ``target(**options)``: unknown keys (with a suggestion and the
    parameters it takes) and required parameters left out. ``skip``: parameters that are
    not options (passed by the caller)."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # no introspectable signature: the call will tell
        return []
    params = {
        name: p
        for name, p in signature.parameters.items()
        if name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    names = list(params)
    listing = ", ".join(names) or "no options"
    problems: list[Problem] = []
    meant: set[str] = set()  # what misspelt keys were meant: not reported missing as well
    if not takes_any:
        for key in options:
            if key not in params or params[key].kind is inspect.Parameter.POSITIONAL_ONLY:
                meant.update(difflib.get_close_matches(key, names, n=1))
                line, where = locate((*table, key))
                problems.append(
                    Problem(
                        line,
                        where,
                        f"{'.'.join((*table, key))}: {what} has no option {key!r}"
                        f"{did_you_mean(key, names)} ({what} takes: {listing})",
                    )
                )
    for name, param in params.items():
        if param.default is inspect.Parameter.empty and name not in options and name not in meant:
            line, where = locate(table)
            problems.append(
                Problem(
                    line,
                    where,
                    f"{'.'.join(table)}: {what} needs {name!r} (no default); set "
                    f"{name} = ... under [{'.'.join(table)}] ({what} takes: {listing})",
                )
            )
    return problems
