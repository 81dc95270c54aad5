"""Resolving ``'module:attr'`` and ``'path/to/file.py:attr'`` references of a run config."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from unitrain.errors import ConfigError

__all__ = ["absolute_target", "load_target"]


def absolute_target(target: str, base: Path) -> str:
    """``target`` with a relative file path made absolute against ``base``."""
    where, _, attr = target.rpartition(":")
    if where.endswith(".py") and not Path(where).is_absolute():
        return f"{(base / where).resolve()}:{attr}"
    return target


def load_target(target: str, setting: str) -> Any:
    """Import the object that ``target`` names; ``setting`` is used in error messages."""
    where, colon, attr = target.rpartition(":")
    if not colon or not where or not attr:
        raise ConfigError(
            f"{setting} = {target!r}: expected 'module:function' or 'file.py:function'"
        )
    if where.endswith(".py"):
        module = _load_file(Path(where), setting)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as error:
            raise ConfigError(f"{setting} = {target!r}: cannot import {where!r}: {error}") from None
    try:
        found = module
        for part in attr.split("."):
            found = getattr(found, part)
    except AttributeError:
        functions = sorted(
            n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
        )
        close = difflib.get_close_matches(attr, functions, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{setting} = {target!r}: {where} has no {attr!r}; {hint}"
            f"(its functions and classes: {', '.join(functions) or 'none'})"
        ) from None
    return found


def _load_file(path: Path, setting: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"{setting}: file {path} does not exist")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"unitrain_user_{resolved.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{setting}: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before running it, so dataclasses and pickling inside the file work.
    sys.modules[name] = module
    # Its folder goes on sys.path, so the file can import its neighbours.
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
