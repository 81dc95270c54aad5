"""``unitrain plugins``, ``runs``, ``report`` and ``demo``."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from unitrain.config import read_config_file
from unitrain.config.builtins import available_plugins, enabled_names, is_builtin, options_of
from unitrain.errors import ConfigError, UnitrainError
from unitrain.hooks.entrypoints import GROUP, Selection

__all__ = ["cmd_demo", "cmd_plugins", "cmd_report", "cmd_runs", "find_demo", "stdout_console"]


def cmd_plugins(args: argparse.Namespace, console: Console) -> int:
    """List the built-in and installed plugins: name, distribution, version, target,
    enabled, and the options ``[plugin_options.NAME]`` may set (a third-party plugin's only
    with ``--options``, which imports it)."""
    configured: list[str] = []
    if args.config is not None:
        listed = read_config_file(args.config).get("plugins", [])
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise ConfigError(f"{args.config}: plugins must be a list of names, got {listed!r}")
        configured = listed
    available = available_plugins()
    enabled = set(enabled_names(Selection.parse(config=configured, cli=args.plugin), available))
    rows: list[dict[str, Any]] = [
        {
            "name": entry.name,
            "builtin": is_builtin(entry),
            "distribution": entry.distribution,
            "version": entry.version,
            "target": entry.value,
            "enabled": name in enabled,
            # A third-party plugin's module is imported only when asked: listing stays safe
            # even when an installed plugin is broken.
            "options": options_of(entry) if is_builtin(entry) or args.options else None,
        }
        for name, entries in available.items()
        for entry in entries
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    out = stdout_console()
    table = Table("name", "from", "enabled", "options ([plugin_options.NAME])")
    for row in rows:
        origin = (
            "built-in"
            if row["builtin"]
            else f"{row['distribution'] or '?'} {row['version'] or '?'}"
        )
        table.add_row(
            row["name"],
            origin,
            "yes" if row["enabled"] else "no",
            ", ".join(row["options"])
            if row["options"] is not None
            else f"{row['target']} (--options imports it to list them)",
        )
    out.print(table)
    out.print(
        f'enable with plugins = ["NAME"] or -p NAME; set options under '
        f"[plugin_options.NAME]; third-party plugins: entry-point group {GROUP!r}",
        highlight=False,
        markup=False,
    )
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
    """Write the HTML report of one run (or the comparison page of several); prints the
    page's path. ``--watch`` writes it again on every change of the runs' files, until they
    have ended (exit 0) or Ctrl-C (exit 0 too: stopping a watch is not a failure)."""
    from unitrain.report import watch_report, write_report

    if not args.watch:
        page = write_report(args.runs, args.out)
        print(f"report: {page}", flush=True)
        return 0

    def written(page: Path, generation: int, live: bool) -> None:
        state = "live, reloads itself" if live else "final, the runs have ended"
        print(f"report: {page} (#{generation}, {state})", flush=True)

    try:
        watch_report(args.runs, args.out, interval=args.interval, written=written)
    except KeyboardInterrupt:
        print("report: watch stopped", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    """Run the README's main job, the digits classifier, passing on the arguments."""
    main: Any = find_demo()
    result: int = main(list(args.args))
    return result


def find_demo() -> Any:
    """The digits example's ``main(argv) -> int``, which ships inside the package."""
    from unitrain.examples.digits import main

    return main
