"""The checks of a run config beyond its types: functions, their options, plugins.

All of them run before anything is started and report :class:`Problem` s instead of
raising, so one message lists every mistake of the file. Importing the task and data
functions' module is the one thing they do (a function's signature needs it); nothing is
called.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unitrain.config.builtins import available_plugins, enabled_names
from unitrain.config.problems import Locate, Problem, check_call, did_you_mean
from unitrain.config.targets import absolute_target, load_target
from unitrain.errors import ConfigError, PluginError
from unitrain.hooks.entrypoints import ALL, ENV_VAR, PluginEntry, Selection

__all__ = ["check_functions", "check_plugins"]

_FUNCTIONS = (("task", "task_options"), ("data", "data_options"))


def check_functions(data: Mapping[str, Any], base: Path, locate: Locate) -> list[Problem]:
    """``task`` / ``data`` name a function that exists; their options fit its signature."""
    problems: list[Problem] = []
    for key, options_key in _FUNCTIONS:
        target = data.get(key)
        options = data.get(options_key, {})
        if not isinstance(target, str):
            continue  # a missing or mistyped value is the model's problem
        line, where = locate((key,))
        resolved = absolute_target(target, base)
        try:
            function = load_target(resolved, key)
        except ConfigError as error:  # said with the file name as the user wrote it
            said = str(error).replace(resolved, target)
            said = said.replace(resolved.rpartition(":")[0], target.rpartition(":")[0])
            problems.append(Problem(line, where, said))
            continue
        except Exception as error:  # the user's module failed to import
            problems.append(
                Problem(
                    line,
                    where,
                    f"{key} = {target!r}: importing it failed: {type(error).__name__}: {error}",
                )
            )
            continue
        if not callable(function):
            problems.append(
                Problem(
                    line,
                    where,
                    f"{key} = {target!r} is a {type(function).__name__}, not a function",
                )
            )
            continue
        if isinstance(options, Mapping):
            name = getattr(function, "__name__", target)
            problems += check_call(
                function, options, what=f"{name}()", table=(options_key,), locate=locate
            )
    return problems


def check_plugins(
    data: Mapping[str, Any],
    cli: Sequence[str],
    locate: Locate,
    env: Mapping[str, str] | None = None,
    available: Mapping[str, Sequence[PluginEntry]] | None = None,
) -> list[Problem]:
    """Every enabled plugin name exists; every ``[plugin_options.NAME]`` names a plugin and
    fits its class's or factory's signature; required options are given.

    ``available`` is :func:`~unitrain.config.builtins.available_plugins`'s answer when the
    caller has it already (reading every distribution's entry points is the slow part)."""
    listed = data.get("plugins", [])
    configured = [w for w in listed if isinstance(w, str)] if isinstance(listed, list) else []
    options = data.get("plugin_options", {})
    options = options if isinstance(options, Mapping) else {}
    environ = os.environ if env is None else env
    try:
        selection = Selection.parse(config=configured, cli=cli, env=environ)
    except PluginError as error:
        return [Problem(float("inf"), "", str(error))]
    if available is None:
        available = available_plugins()
    names = sorted(available)
    problems: list[Problem] = []

    def origin(name: str) -> tuple[float, str]:
        """Where a plugin was enabled: the config's `plugins` line, else -p / the variable."""
        if name in configured:
            return locate(("plugins",))
        if name in cli:
            return float("inf"), f"-p {name}"
        return float("inf"), f"{ENV_VAR}={environ.get(ENV_VAR, '')!r}"

    for name in selection.enabled:
        if name in selection.disabled or name in available or name == ALL:
            continue
        line, where = origin(name)
        problems.append(
            Problem(
                line,
                where,
                f"plugins: {name!r} is not a built-in or installed plugin"
                f"{did_you_mean(name, names)} (available: {', '.join(names)})",
            )
        )
    enabled = set(enabled_names(selection, available))
    for name, given in options.items():
        table = ("plugin_options", str(name))
        line, where = locate(table)
        if name not in available:
            problems.append(
                Problem(
                    line,
                    where,
                    f"plugin_options.{name}: no plugin is named {name!r}"
                    f"{did_you_mean(str(name), names)} (available: {', '.join(names)})",
                )
            )
            continue
        if name not in enabled and name not in selection.disabled:
            problems.append(
                Problem(
                    line,
                    where,
                    f"plugin_options.{name}: the plugin {name!r} is not enabled; add it to "
                    f'plugins = ["{name}"] (or pass -p {name})',
                )
            )
        if isinstance(given, Mapping) and len(available[name]) == 1:
            problems += _check_options(name, available, given, table, locate)
    for name in sorted(enabled - set(options)):
        if name in available and len(available[name]) == 1:
            enabled_at = origin(name)

            def at_origin(
                _: tuple[str, ...], at: tuple[float, str] = enabled_at
            ) -> tuple[float, str]:
                return at

            problems += _check_options(name, available, {}, ("plugin_options", name), at_origin)
    return problems


def _check_options(
    name: str,
    available: Mapping[str, Sequence[Any]],
    given: Mapping[str, Any],
    table: tuple[str, ...],
    locate: Locate,
) -> list[Problem]:
    entry = available[name][0]
    try:
        target = entry.entry_point.load()
    except Exception as error:
        line, where = locate(table)
        return [
            Problem(
                line, where, f"{entry.describe()} failed to load: {type(error).__name__}: {error}"
            )
        ]
    if not (inspect.isclass(target) or inspect.isfunction(target)):
        return []  # a module or instance takes no options; loading says so if some are given
    return check_call(target, given, what=f"plugin {name!r}", table=table, locate=locate)
