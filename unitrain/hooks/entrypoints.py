"""Third-party plugins from the ``unitrain`` entry-point group, loaded only when enabled.

A distribution declares a plugin in its ``pyproject.toml``::

    [project.entry-points.unitrain]
    csv-log = "unitrain_csv_log:CsvLog"

Installing it does nothing by itself: a plugin is imported only when it is enabled, by
name, from one of three sources, read in this order (a later word about a name wins):

1. the run config's ``plugins = ["csv-log"]``;
2. the environment, ``UNITRAIN_PLUGINS="csv-log,no:other"`` (commas or spaces);
3. the command line, ``-p csv-log`` / ``-p no:csv-log``.

``all`` enables every installed plugin (``no:NAME`` still excludes one); ``no:all`` drops
everything enabled so far. Each entry point is
loaded in isolation: when one fails to import, to instantiate or to register, the others
still load, and the failure names the entry point, its distribution and version. In strict
mode (the default) every failure is collected and raised as one :class:`PluginError`; in
lenient mode each becomes a :class:`PluginLoadWarning` and the run goes on without it.

What an entry point may name: a class (instantiated with the plugin's options), a function
(called with the options; it returns the plugin), or a module or object (used as the
plugin itself; it takes no options).
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

from unitrain.errors import PluginError, PluginLoadWarning
from unitrain.hooks.manager import PluginManager

__all__ = [
    "ALL",
    "ENV_VAR",
    "GROUP",
    "LoadedPlugin",
    "PluginEntry",
    "Selection",
    "discover",
    "load_plugins",
    "register_plugins",
]

GROUP: Final = "unitrain"
ENV_VAR: Final = "UNITRAIN_PLUGINS"
ALL: Final = "all"
_DISABLE: Final = "no:"
_OWN_DISTRIBUTION: Final = "unitrain"


@dataclass(frozen=True, slots=True)
class PluginEntry:
    """One installed entry point of the ``unitrain`` group; nothing of it is imported."""

    name: str
    value: str
    distribution: str | None
    version: str | None
    entry_point: EntryPoint = field(repr=False, compare=False)

    @property
    def origin(self) -> str:
        """``'unitrain-csv-log 1.2.0'``, or ``'an unknown distribution'``."""
        if self.distribution is None:
            return "an unknown distribution"
        return f"{self.distribution} {self.version or '(no version)'}"

    def describe(self) -> str:
        """``"entry point 'csv-log' = 'pkg:Cls' of unitrain-csv-log 1.2.0"``."""
        return f"entry point {self.name!r} = {self.value!r} of {self.origin}"


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """An enabled entry point, loaded and (for classes and factories) instantiated."""

    entry: PluginEntry
    plugin: object


@dataclass(frozen=True, slots=True)
class Selection:
    """Which entry-point plugins are enabled: names in request order, exclusions, ``all``."""

    enabled: tuple[str, ...] = ()
    disabled: frozenset[str] = frozenset()
    all: bool = False

    @classmethod
    def parse(
        cls,
        config: Iterable[str] = (),
        cli: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Selection:
        """Combine config names, ``UNITRAIN_PLUGINS`` (from ``env``, default
        ``os.environ``) and ``-p`` words; later sources win for the same name."""
        environ = os.environ if env is None else env
        words = [*config, *_split(environ.get(ENV_VAR, "")), *cli]
        enabled: dict[str, None] = {}
        disabled: set[str] = set()
        everything = False
        for word in words:
            word = word.strip()
            if not word:
                continue
            if word.startswith(_DISABLE):
                name = word[len(_DISABLE) :].strip()
                if not name:
                    raise PluginError(f"plugin selection {word!r}: expected no:NAME")
                if name == ALL:
                    everything = False
                    enabled.clear()
                    continue
                disabled.add(name)
                enabled.pop(name, None)
            elif word == ALL:
                everything = True
            else:
                disabled.discard(word)
                enabled[word] = None
        return cls(tuple(enabled), frozenset(disabled), everything)

    def is_enabled(self, name: str) -> bool:
        """True when ``name`` is enabled by name or by ``all`` and not excluded."""
        if name in self.disabled:
            return False
        return self.all or name in self.enabled

    def names(self, installed: Iterable[str]) -> list[str]:
        """The names to load: explicit ones in request order, then (with ``all``) the other
        installed ones in sorted order."""
        chosen = [name for name in self.enabled if name not in self.disabled]
        if self.all:
            chosen += sorted(n for n in set(installed) if n not in chosen and self.is_enabled(n))
        return chosen


def discover() -> dict[str, list[PluginEntry]]:
    """Every installed third-party entry point of the group, by name (metadata only, no
    import)."""
    found: dict[str, list[PluginEntry]] = {}
    for point in entry_points(group=GROUP):
        dist = point.dist
        if dist is not None and dist.name == _OWN_DISTRIBUTION:
            # unitrain's own plugins are declared in the group for tools that read entry
            # points; unitrain resolves them by name from unitrain.config.builtins, so `all`
            # here means every third-party plugin (built-ins are enabled by name only).
            continue
        entry = PluginEntry(
            name=point.name,
            value=point.value,
            distribution=None if dist is None else dist.name,
            version=None if dist is None else dist.version,
            entry_point=point,
        )
        same = found.setdefault(point.name, [])
        # The same distribution can be seen twice on sys.path (e.g. editable + site); keep one.
        if all(e.value != entry.value or e.distribution != entry.distribution for e in same):
            same.append(entry)
    return found


def load_plugins(
    selection: Selection,
    *,
    strict: bool = True,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    installed: Mapping[str, Sequence[PluginEntry]] | None = None,
) -> list[LoadedPlugin]:
    """Import and instantiate the enabled plugins, each in isolation.

    ``options[name]`` are keyword arguments for a class or factory entry point.
    ``installed`` defaults to :func:`discover`. Raises one :class:`PluginError` listing
    every failure (strict), or warns once per failure and skips it (lenient).
    """
    found = discover() if installed is None else installed
    options = options or {}
    loaded: list[LoadedPlugin] = []
    problems: list[str] = []
    for name in selection.names(found):
        entries = found.get(name, ())
        if not entries:
            problems.append(_not_installed(name, found))
            continue
        if len(entries) > 1:
            origins = "; ".join(e.describe() for e in entries)
            problems.append(f"plugin {name!r} is provided more than once: {origins}")
            continue
        entry = entries[0]
        try:
            plugin = _instantiate(entry, entry.entry_point.load(), options.get(name, {}))
        except Exception as error:
            problems.append(f"{entry.describe()} failed to load: {type(error).__name__}: {error}")
            continue
        loaded.append(LoadedPlugin(entry, plugin))
    _settle(problems, strict)
    return loaded


def register_plugins(
    manager: PluginManager, loaded: Iterable[LoadedPlugin], *, strict: bool = True
) -> list[str]:
    """Register loaded plugins under their entry-point names; returns the names registered.

    A plugin the manager rejects (a misspelt hook, say) is a load failure like any other:
    strict mode raises after trying all of them, lenient mode warns and skips it.
    """
    names: list[str] = []
    problems: list[str] = []
    for item in loaded:
        try:
            registered = manager.register(
                item.plugin, name=item.entry.name, distribution=item.entry.origin
            )
        except PluginError as error:
            problems.append(f"{item.entry.describe()} cannot be registered: {error}")
            continue
        if registered is not None:
            names.append(registered)
    _settle(problems, strict)
    return names


def _instantiate(entry: PluginEntry, target: object, options: Mapping[str, Any]) -> object:
    if inspect.isclass(target) or inspect.isfunction(target):
        plugin: object = target(**options)
        if plugin is None:
            raise PluginError(f"factory {entry.value!r} returned None; it must return the plugin")
        return plugin
    if options:
        raise PluginError(
            f"options {sorted(options)} were given, but {entry.value!r} is a "
            f"{type(target).__name__}, not a class or factory that could take them"
        )
    return target


def _not_installed(name: str, found: Mapping[str, Sequence[PluginEntry]]) -> str:
    close = difflib.get_close_matches(name, list(found), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(sorted(found)) or "none"
    return (
        f"plugin {name!r} is enabled but no installed distribution provides it in the "
        f"{GROUP!r} entry-point group{hint} (installed: {listing}; `unitrain plugins` lists them)"
    )


def _settle(problems: list[str], strict: bool) -> None:
    if not problems:
        return
    if strict:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise PluginError(
            f"{len(problems)} plugin(s) could not be loaded:\n{lines}\n"
            "Fix or uninstall them, disable them with -p no:NAME, or use lenient loading "
            "(--lenient-plugins / strict_plugins = false) to skip them with a warning."
        )
    for problem in problems:
        warnings.warn(f"skipped: {problem}", PluginLoadWarning, stacklevel=3)


def _split(text: str) -> list[str]:
    return [word for word in re.split(r"[,\s]+", text) if word]
