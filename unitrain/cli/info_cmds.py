"""``unitrain plugins``, ``runs``, ``report`` and ``demo``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import unitrain
from unitrain.config import read_config_file
from unitrain.errors import ConfigError, UnitrainError
from unitrain.hooks.entrypoints import GROUP, Selection, discover

__all__ = ["cmd_demo", "cmd_plugins", "cmd_report", "cmd_runs", "find_demo", "stdout_console"]


def cmd_plugins(args: argparse.Namespace, console: Console) -> int:
    """List installed entry-point plugins: name, distribution, version, target, enabled."""
    configured: list[str] = []
    if args.config is not None:
        listed = read_config_file(args.config).get("plugins", [])
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise ConfigError(f"{args.config}: plugins must be a list of names, got {listed!r}")
        configured = listed
    selection = Selection.parse(config=configured, cli=args.plugin)
    rows: list[dict[str, Any]] = [
        {
            "name": entry.name,
            "distribution": entry.distribution,
            "version": entry.version,
            "target": entry.value,
            "enabled": selection.is_enabled(name),
        }
        for name, entries in sorted(discover().items())
        for entry in entries
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    out = stdout_console()
    if not rows:
        out.print(f"no plugins installed in the {GROUP!r} entry-point group")
        return 0
    table = Table("name", "distribution", "version", "target", "enabled")
    for row in rows:
        cells = (row["name"], row["distribution"] or "?", row["version"] or "?", row["target"])
        table.add_row(*(str(c) for c in cells), "yes" if row["enabled"] else "no")
    out.print(table)
    return 0


def cmd_runs(args: argparse.Namespace, console: Console) -> int:
    """The run store's table of the runs under ``root``."""
    try:
        listing = importlib.import_module("unitrain.runs.listing")
    except ImportError:
        raise UnitrainError(
            "`unitrain runs` needs the run store's listing (unitrain.runs.listing), which this "
            "installation of unitrain lacks"
        ) from None
    listing.print_runs_table(args.root, console=stdout_console())
    return 0


def stdout_console() -> Console:
    """A console on stdout; wide when it is not a terminal, so tables are not folded."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """Write the run's HTML report and plots; prints the page's path."""
    from unitrain.report import write_report

    page = write_report(args.run, args.out)
    print(f"report: {page}", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    """Run the README's main job, the digits classifier, passing on the arguments."""
    main: Any = find_demo()
    result: int = main(list(args.args))
    return result


def find_demo() -> Any:
    """The digits example's ``main(argv) -> int``: from an installed ``unitrain.examples``
    module, else from the source tree's ``examples/digits/train.py``."""
    try:
        module = importlib.import_module("unitrain.examples.digits")
    except ImportError:
        module = None
    if module is None:
        path = Path(unitrain.__file__).resolve().parent.parent / "examples" / "digits" / "train.py"
        if not path.is_file():
            raise ConfigError(
                "unitrain demo: the digits example is not installed with this copy of unitrain "
                f"(looked for unitrain.examples.digits and {path})"
            )
        spec = importlib.util.spec_from_file_location("unitrain_demo_digits", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module.main
