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
from importlib import import_module
from typing import TYPE_CHECKING

from unitrain.cli.parser import make_parser
from unitrain.errors import ConfigError, PluginError, UnitrainError
from unitrain.log import cli_logging

if TYPE_CHECKING:
    from rich.console import Console

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
    console = make_console()
    with cli_logging(console, verbose=args.verbose):
        return _run(args, console)


def make_console() -> Console:
    """The command's console, on stderr (rich is imported here, after the arguments are
    parsed: `unitrain --help` needs none of it)."""
    from rich.console import Console

    return Console(stderr=True)


def _run(args: argparse.Namespace, console: Console) -> int:
    try:
        return _command(args.command)(args, console)
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


# command → the module defining it; only the one that runs is imported, so `unitrain
# --help` and `unitrain plugins` load no torch, and `fit` loads nothing of the other
# commands (benchmarks/startup.py, docs/performance.md "Startup")
_COMMANDS: dict[str, str] = {
    "fit": "unitrain.cli.run_cmds",
    "eval": "unitrain.cli.run_cmds",
    "predict": "unitrain.cli.run_cmds",
    "runs": "unitrain.cli.info_cmds",
    "report": "unitrain.cli.info_cmds",
    "plugins": "unitrain.cli.info_cmds",
    "demo": "unitrain.cli.info_cmds",
}


def _command(name: str) -> Callable[..., int]:
    command: Callable[..., int] = getattr(import_module(_COMMANDS[name]), f"cmd_{name}")
    return command
