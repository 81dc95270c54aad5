"""Reading a run config: the file (TOML or YAML), ``--set`` overrides, located errors."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from unitrain.config.checks import check_functions, check_plugins
from unitrain.config.model import RunConfig
from unitrain.config.problems import Problem, describe, from_pydantic
from unitrain.config.targets import absolute_target
from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.hooks.entrypoints import PluginEntry

__all__ = ["apply_overrides", "load_run_config", "locate_key", "read_config_file"]

_TOML_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
_YAML_KEY = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z0-9_\-.\"']+)\s*:(\s|$)")


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's content as a dict; ``.toml``, or ``.yaml`` / ``.yml`` (needs PyYAML)."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    if suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            raise ConfigError(
                f"{path}: reading YAML needs PyYAML: pip install 'unitrain[yaml]' "
                "(or write the config as TOML)"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
        return data
    raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .yml")


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> list[tuple[str, ...]]:
    """Apply ``key.sub=value`` overrides in place; returns the paths they set.

    The value is read as a TOML value (``3``, ``0.1``, ``true``, ``"text"``, ``[1, 2]``);
    anything that is not valid TOML is taken as a plain string.
    """
    paths: list[tuple[str, ...]] = []
    for override in overrides:
        key, equals, raw = override.partition("=")
        parts = tuple(p.strip() for p in key.split("."))
        if not equals or not all(parts):
            raise ConfigError(
                f"--set {override!r}: expected KEY=VALUE with a dotted key, "
                "e.g. --set trainer.max_epochs=3"
            )
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        target = data
        for index, part in enumerate(parts[:-1]):
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"--set {override!r}: {'.'.join(parts[: index + 1])} is a "
                    f"{type(child).__name__}, not a table"
                )
            target = child
        target[parts[-1]] = value
        paths.append(parts)
    return paths


def locate_key(text: str, loc: Sequence[int | str], yaml: bool = False) -> int | None:
    """The 1-based line where the longest known prefix of ``loc`` is set, if found."""
    wanted = tuple(str(p) for p in loc)
    best: tuple[int, int] | None = None  # (prefix length, line)
    for number, path in _key_lines(text, yaml):
        length = len(path)
        if wanted[:length] == path and (best is None or length > best[0]):
            best = (length, number)
    return None if best is None else best[1]


def _key_lines(text: str, yaml: bool) -> list[tuple[int, tuple[str, ...]]]:
    found: list[tuple[int, tuple[str, ...]]] = []
    table: tuple[str, ...] = ()
    stack: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if yaml:
            match = _YAML_KEY.match(line)
            if match is None:
                continue
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, _unquote(match.group(2))))
            found.append((number, tuple(key for _, key in stack)))
            continue
        header = _TOML_HEADER.match(line)
        if header is not None:
            table = tuple(_unquote(p) for p in header.group(1).split("."))
            found.append((number, table))
            continue
        key = _TOML_KEY.match(line)
        if key is not None:
            found.append((number, (*table, *(_unquote(p) for p in key.group(1).split(".")))))
    return found


def _unquote(part: str) -> str:
    return part.strip().strip("\"'")


def load_run_config(
    path: Path,
    overrides: Sequence[str] = (),
    *,
    plugins: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    available: Mapping[str, Sequence[PluginEntry]] | None = None,
) -> RunConfig:
    """Read, override and check a run config; every problem is reported at once, in the
    file's line order, each with its file and line.

    Besides the settings' types: the task and data functions exist (with a suggestion when
    misspelt) and their options fit their signatures. With ``plugins`` (the ``-p`` words;
    ``None`` skips the plugin checks, e.g. for lenient loading) every enabled plugin exists
    and every ``[plugin_options.NAME]`` fits that plugin's signature; ``available`` (the
    plugins by name, :func:`~unitrain.config.builtins.available_plugins`) saves reading the
    installed entry points again when the caller has them.

    Relative file references (``task = "train.py:make_task"``) are made absolute against
    the config file's folder, so the resolved config can be run from anywhere.
    """
    data = read_config_file(path)
    overridden = apply_overrides(data, overrides)
    text = path.read_text(encoding="utf-8")
    is_yaml = path.suffix.lower() in (".yaml", ".yml")

    def locate(loc: tuple[str, ...]) -> tuple[float, str]:
        for parts in overridden:
            if loc[: len(parts)] == parts:
                return math.inf, "--set " + ".".join(parts)
        line = locate_key(text, loc, yaml=is_yaml)
        return (math.inf, str(path)) if line is None else (line, f"{path}:{line}")

    base = path.resolve().parent
    problems: list[Problem] = []
    config: RunConfig | None = None
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as error:
        problems += from_pydantic(error, RunConfig, locate)
    problems += check_functions(data, base, locate)
    if plugins is not None:
        problems += check_plugins(data, plugins, locate, env=env, available=available)
    if problems or config is None:
        raise ConfigError(describe(problems, str(path)))
    return config.model_copy(
        update={
            "task": absolute_target(config.task, base),
            "data": absolute_target(config.data, base),
        }
    )
