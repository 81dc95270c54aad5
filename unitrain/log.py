"""unitrain's logging: a ``NullHandler`` for the library, a rich handler for the CLI.

The library never configures logging (the Python HOWTO "Configuring Logging for a
Library"): it logs to the ``unitrain`` logger, which has only a ``NullHandler``, and an
application decides where records go. The command line installs one
:class:`rich.logging.RichHandler` on that logger when stderr is a terminal (sharing the
console of the progress display), a plain one-line-per-record handler when it is not (CI,
log files: no colours, no folding, no padding), and routes ``warnings`` through it. On
ranks other than 0 only errors are shown, so a distributed run prints each message once.
Warnings keep their categories (all unitrain's derive from
:class:`~unitrain.errors.UnitrainWarning`), so users can filter them; Python's default
filter shows each one once per place, never once per step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # rich loads when the command installs its handler, not with the library
    from rich.console import Console

__all__ = ["LOGGER_NAME", "cli_logging", "env_rank", "get_logger", "install_cli_handler"]

LOGGER_NAME: Final = "unitrain"
_RANK_VARIABLES: Final = ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
_PLAIN_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# ISO 8601 everywhere: the full date and time in plain lines (CI logs, files), the time of
# day on a live terminal, where the date is today's and the columns are few (80 is enough
# for an INFO line of up to 62 characters).
_PLAIN_TIME: Final = "%Y-%m-%dT%H:%M:%S"
_TERMINAL_TIME: Final = "%H:%M:%S"

logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


def get_logger(name: str = "") -> logging.Logger:
    """The ``unitrain`` logger, or its child ``unitrain.<name>``."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def env_rank() -> int:
    """The global rank from the launcher's environment (0 when not distributed).

    Read from the environment rather than torch.distributed, so it is right before the
    process group exists (torchrun sets ``RANK``; SLURM and LSF their own variables).
    """
    for variable in _RANK_VARIABLES:
        value = os.environ.get(variable)
        if value is not None and value.strip().isdigit():
            return int(value)
    return 0


def install_cli_handler(
    console: Console | None = None, *, verbose: int = 0, rank: int | None = None
) -> logging.Handler:
    """Send the ``unitrain`` logger (and warnings) to ``console`` (default: stderr).

    Level INFO, DEBUG with ``verbose``; ERROR on ranks other than 0. Installing again
    replaces the previous CLI handler rather than adding a second one.
    """
    rank = env_rank() if rank is None else rank
    level = logging.ERROR if rank > 0 else logging.DEBUG if verbose else logging.INFO
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    handler: logging.Handler
    if console.is_terminal:
        from rich.logging import RichHandler

        handler = RichHandler(
            console=console,
            rich_tracebacks=True,
            markup=False,
            show_path=verbose > 0,
            log_time_format=_TERMINAL_TIME,
            omit_repeated_times=False,  # every line says when: a wrapped line is visible
        )
    else:
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(logging.Formatter(_PLAIN_FORMAT, _PLAIN_TIME))
    handler.setLevel(level)
    handler.set_name("unitrain-cli")
    for name in (LOGGER_NAME, "py.warnings"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "unitrain-cli"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    logging.captureWarnings(True)
    return handler


@contextmanager
def cli_logging(
    console: Console | None = None, *, verbose: int = 0, rank: int | None = None
) -> Iterator[logging.Handler]:
    """:func:`install_cli_handler` for the duration of a ``with`` block, then the previous
    logging setup back (so ``unitrain.cli.main`` can be called in-process, e.g. by tests)."""
    names = (LOGGER_NAME, "py.warnings")
    saved = [(logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names]
    handler = install_cli_handler(console, verbose=verbose, rank=rank)
    try:
        yield handler
    finally:
        logging.captureWarnings(False)
        for name, (level, propagate) in zip(names, saved, strict=True):
            logger = logging.getLogger(name)
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
