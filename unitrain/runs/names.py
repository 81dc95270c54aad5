"""Names that become one folder or file of a run: checked where they enter.

An experiment name, a run id or a checkpoint name is joined to a root the user chose; a
``/``, a ``..`` or a leading ``.`` would let it name a place outside that root (or one of the
hidden folders unitrain uses for temporaries). :func:`check_name` refuses such names with a
:class:`~unitrain.errors.ConfigError` saying what was given, where, and what is allowed; the
config model, :class:`~unitrain.plugins.run_store.RunStore`, :func:`~unitrain.runs.store.
create_run` and the checkpoint writer all call it.
"""

from __future__ import annotations

import re

from unitrain.errors import ConfigError

__all__ = ["NAME_RULE", "check_name", "is_hidden", "name_problem"]

#: What a name may hold: letters, digits, ``_``, ``-``, ``.``, ``+``, ``=``, ``@``; not
#: starting with ``.`` or ``-``; at most 128 characters.
NAME_RULE = "letters, digits and _ - . + = @, not starting with '.' or '-', at most 128 characters"
_NAME = re.compile(r"[A-Za-z0-9_+=@][A-Za-z0-9_.+=@-]{0,127}")


def name_problem(value: object) -> str | None:
    """Why ``value`` is not a plain folder name (None when it is one)."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value:
        return "it is empty"
    if "/" in value or "\\" in value:
        return "it holds a path separator ('/' or '\\'): it would name a folder elsewhere"
    if value in (".", "..") or value.startswith("."):
        return "it starts with '.': '..' leaves the root, and hidden names are unitrain's own"
    if _NAME.fullmatch(value) is None:
        return f"it holds characters outside {NAME_RULE}"
    return None


def is_hidden(name: str) -> bool:
    """Whether a folder name is hidden (a leading ``.``): unitrain's own, a temporary or a run
    still being made (:func:`~unitrain.runs.store.create_run`), never a run to list or resume."""
    return name.startswith(".")


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a plain folder name, else raise ConfigError naming ``what``."""
    problem = name_problem(value)
    if problem is not None:
        raise ConfigError(
            f"{what}={value!r} is not a plain folder name: {problem}. Use {NAME_RULE}, "
            "e.g. 'mnist-baseline'; the folder is always made under the root you chose"
        )
    assert isinstance(value, str)
    return value
