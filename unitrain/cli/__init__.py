"""The ``unitrain`` command (also ``python -m unitrain``); see ``docs/cli.md``.

Exit codes: 0 success, 1 the run failed (the traceback, with unitrain's notes naming the
plugin, hook and step, goes to stderr), 2 a bad command line, config or plugin (one message
listing every problem, nothing was started).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from rich.console import Console

from unitrain.cli.parser import make_parser
from unitrain.errors import ConfigError, PluginError, UnitrainError
from unitrain.log import cli_logging

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    # `demo` hands every later word to the example's own parser (argparse's REMAINDER
    # cannot take words that look like options after a sub-command).
    first = next((i for i, w in enumerate(words) if not w.startswith("-")), None)
    passed: list[str] = []
    if first is not None and words[first] == "demo":
        words, passed = words[: first + 1], words[first + 1 :]
    args = make_parser().parse_args(words)
    if args.command == "demo":
        args.args = passed
    console = Console(stderr=True)
    with cli_logging(console, verbose=args.verbose):
        return _run(args, console)


def _run(args: argparse.Namespace, console: Console) -> int:
    command = _commands()[args.command]
    try:
        return command(args, console)
    except (ConfigError, PluginError) as error:
        print(f"unitrain {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"unitrain {args.command}: interrupted", file=sys.stderr)
        return 130
    except UnitrainError as error:
        traceback.print_exception(error)
        print(f"unitrain {args.command}: failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        traceback.print_exception(error)
        print(f"unitrain {args.command}: failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED


def _commands() -> dict[str, Callable[..., int]]:
    # Imported here so `unitrain --help` and `unitrain plugins` stay quick.
    from unitrain.cli import info_cmds, run_cmds

    return {
        "fit": run_cmds.cmd_fit,
        "eval": run_cmds.cmd_eval,
        "predict": run_cmds.cmd_predict,
        "runs": info_cmds.cmd_runs,
        "report": info_cmds.cmd_report,
        "plugins": info_cmds.cmd_plugins,
        "demo": info_cmds.cmd_demo,
    }
