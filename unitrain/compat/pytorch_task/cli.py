"""The seed's command line: ``train`` / ``test`` / ``eval INPUT OUTPUT`` for one task.

Snapshots are run directories of unitrain's run store, ``<root>/<experiment>/...``; the
experiment is named after the folder of the task's module, as in the seed. Each snapshot
records the commit of the code and whether the work tree was dirty. Unlike the seed,
nothing is committed: "the code changed" means the commit differs from the last snapshot's,
or the tree is dirty, or git is not available.

- ``train``: trains into a new snapshot when the code changed; ``--force`` trains anyway;
  ``--retrain`` clears the last snapshot and trains into it again.
- ``test``: tests the last snapshot; ``--retest`` tests it again when it already has test
  results; ``--ignore`` tests even when the code changed since it was trained.
- ``eval INPUT OUTPUT``: runs ``eval_path`` with the last snapshot's model.
"""

from __future__ import annotations

import argparse
import inspect
import os
from pathlib import Path
from typing import Any

from unitrain.compat.pytorch_task.snapshot import Snapshot, git_state
from unitrain.runs.names import is_hidden
from unitrain.runs.store import RunDir, RunStatus

__all__ = ["latest_snapshot", "main"]


def main(
    task: Any,
    argv: list[str] | None = None,
    *,
    experiment: str | None = None,
    root: str | os.PathLike[str] = "runs",
    code_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Run the command line for ``task``; returns the exit status (0 when done)."""
    args = _parser().parse_args(argv)
    module_dir = _module_dir(task)
    experiment = experiment or module_dir.name or "default"
    code = Path(code_dir) if code_dir is not None else module_dir
    last = latest_snapshot(root, experiment)
    if args.command == "train":
        return _train(task, args, last, root, experiment, code)
    if last is None:
        print(f"no snapshot of experiment {experiment!r} under {root}: run `train` first")
        return 2
    if args.command == "test":
        return _test(task, args, last, code)
    task.snapshot = last
    task.eval_path(args.input, args.output)
    return 0


def latest_snapshot(root: str | os.PathLike[str], experiment: str) -> Snapshot | None:
    """The newest snapshot of ``experiment`` under ``root``, or None."""
    folder = Path(root) / experiment
    if not folder.is_dir():
        return None
    newest: tuple[float, str, Path] | None = None
    for path in folder.iterdir():
        if is_hidden(path.name):  # a run still being made
            continue
        try:
            info = RunDir.open(path).info()
        except (FileNotFoundError, NotADirectoryError, ValueError):
            continue
        if "snapshot" in info:
            key = (float(info.get("created") or 0.0), path.name, path)
            newest = key if newest is None or key > newest else newest
    return None if newest is None else Snapshot(newest[2])


def _train(
    task: Any, args: argparse.Namespace, last: Snapshot | None, root: Any, name: str, code: Path
) -> int:
    if args.retrain:
        if last is None:
            print(f"--retrain: experiment {name!r} has no snapshot yet; run `train`")
            return 2
        last.reset()
        snapshot = last
    elif last is not None and not args.force and not _changed(last, code):
        print(
            f"the code is unchanged since snapshot {last.uid} (commit {last.commit_sha}); "
            "use --force to train a new snapshot or --retrain to train that one again"
        )
        return 0
    else:
        snapshot = Snapshot.create(root, name, code_dir=code)
    task.snapshot = snapshot
    run = snapshot.run
    run.set_status(RunStatus.RUNNING)
    try:
        task.train()
    except BaseException as error:
        status = RunStatus.INTERRUPTED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
        run.set_status(status, error)
        raise
    run.set_status(RunStatus.COMPLETED)
    return 0


def _test(task: Any, args: argparse.Namespace, last: Snapshot, code: Path) -> int:
    if last.test_data and not args.retest:
        print(f"snapshot {last.uid} is already tested; use --retest to test it again")
        return 0
    if _changed(last, code) and not args.ignore:
        print(
            f"the code changed since snapshot {last.uid} was trained (commit "
            f"{last.commit_sha}); use --ignore to test it with the current code anyway"
        )
        return 2
    task.snapshot = last
    task.test()
    return 0


def _changed(snapshot: Snapshot, code: Path) -> bool:
    now = git_state(code)
    return now is None or bool(now["dirty"]) or now["commit"] != snapshot.commit_sha


def _module_dir(task: Any) -> Path:
    try:
        return Path(inspect.getfile(type(task))).resolve().parent
    except (TypeError, OSError):
        return Path.cwd()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pytorch-task", description="Train, test or evaluate.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a snapshot when the code changed")
    train.add_argument("--retrain", action="store_true", help="clear the last snapshot, retrain")
    train.add_argument("--force", action="store_true", help="train even if the code is unchanged")
    test = commands.add_parser("test", help="test the last snapshot")
    test.add_argument("--retest", action="store_true", help="test again if already tested")
    test.add_argument("--ignore", action="store_true", help="test even if the code changed")
    evaluate = commands.add_parser("eval", help="evaluate one input with the last snapshot")
    evaluate.add_argument("input")
    evaluate.add_argument("output")
    return parser
