"""The ``unitrain`` command line: its arguments, one sub-parser per command."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["make_parser"]

_EPILOG = """\
plugins: built-in (checkpoint, gradient_clipping, lr_scheduler, metrics_log, mixed_precision,
mlflow, nan_guard, progress, tensorboard) and installed ones (entry-point group 'unitrain')
load only when enabled, by the config's `plugins = [...]`, UNITRAIN_PLUGINS="a,no:b", or
-p NAME / -p no:NAME; options go under [plugin_options.NAME]. `unitrain plugins` lists them.
exit codes: 0 success, 1 the run failed, 2 bad command line, config or plugin.
"""


_TRAINED_EPILOG = """\
the model: a run folder as CONFIG (`unitrain eval runs/exp/ID`), --run RUN, --run latest, or
--untrained; without one of them nothing is evaluated (exit 2). Outputs go into the run folder.
"""


_REPORT_EPILOG = """\
several RUNs, or a folder holding several runs, make one comparison page: one colour per
run in every chart, the legend and the tables. --watch ends by itself once every run's
run.json says it ended (or its process is gone); Ctrl-C ends it too (exit 0).
"""


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of ``unitrain`` (also ``python -m unitrain``)."""
    parser = argparse.ArgumentParser(
        prog="unitrain",
        description="Train, evaluate and inspect unitrain runs.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    fit = commands.add_parser("fit", help="train as a run config says")
    _config_arguments(fit)
    fit.add_argument("--print-config", action="store_true", help="print the resolved config")
    fit.add_argument(
        "--resume",
        metavar="RUN",
        help="continue the run in folder RUN from its newest valid checkpoint; "
        "--resume latest: the newest run of the config's experiment",
    )

    evaluate = commands.add_parser(
        "eval", help="evaluate a trained run's model", epilog=_TRAINED_EPILOG
    )
    _config_arguments(evaluate)
    _trained_arguments(evaluate)
    evaluate.add_argument("--split", help="evaluate only this split of the data's 'eval'")

    predict = commands.add_parser(
        "predict", help="predict with a trained run's model", epilog=_TRAINED_EPILOG
    )
    _config_arguments(predict)
    _trained_arguments(predict)
    predict.add_argument("--out", type=Path, help="where to save the predictions (torch.save)")

    runs = commands.add_parser("runs", help="table of the runs under a folder")
    runs.add_argument("root", nargs="?", type=Path, default=Path("runs"), help="default: runs")

    report = commands.add_parser(
        "report",
        help="HTML report of one run, or a comparison page of several",
        epilog=_REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "runs",
        type=Path,
        nargs="+",
        metavar="RUN",
        help="a run folder, one metrics file, or a folder of runs (an experiment folder)",
    )
    report.add_argument(
        "--out",
        type=Path,
        help="output folder (default: RUN/report; FOLDER/report; PARENT/report-compare)",
    )
    report.add_argument(
        "--watch",
        action="store_true",
        help="rewrite the page whenever the runs' files change, until they end or Ctrl-C",
    )
    report.add_argument(
        "--interval", type=float, default=2.0, help="--watch: seconds between looks (default 2)"
    )

    plugins = commands.add_parser(
        "plugins", help="built-in and installed plugins, their options, whether enabled"
    )
    plugins.add_argument("-p", dest="plugin", action="append", default=[], metavar="NAME")
    plugins.add_argument("--config", type=Path, help="take `plugins = [...]` from this config")
    plugins.add_argument("--json", action="store_true", help="JSON instead of a table")
    plugins.add_argument(
        "--options",
        action="store_true",
        help="import the installed third-party plugins too, to list their options",
    )

    demo = commands.add_parser("demo", help="the README's digits classifier")
    demo.add_argument("args", nargs="*", help="passed on to the example (try: demo --help)")
    return parser


def _trained_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run", metavar="RUN", help="run folder with the weights, or 'latest' (newest run)"
    )
    parser.add_argument(
        "--untrained", action="store_true", help="use the task's untrained model on purpose"
    )


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config",
        type=Path,
        metavar="CONFIG",
        help="run config (.toml or .yaml); for eval and predict also a run folder",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set trainer.max_epochs=3 (repeatable)",
    )
    parser.add_argument(
        "-p",
        dest="plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="enable a plugin, built-in (e.g. tensorboard, nan_guard) or installed; "
        "no:NAME disables one; 'all' enables every installed third-party one",
    )
    parser.add_argument(
        "--lenient-plugins",
        action="store_true",
        help="skip a plugin that fails to load, with a warning, instead of failing",
    )
    parser.add_argument("--plain", action="store_true", help="plain log lines, no live bars")
