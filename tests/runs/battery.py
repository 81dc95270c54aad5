"""Shared pieces of the reliability battery (tests/runs/test_b_*.py).

A *crashed run*: RunStore + Checkpoint(every 2 steps, keep all) on the tiny seeded setup of
:mod:`tests.runs.trainkit`, crashed before micro step 7, so its run folder holds checkpoints
at steps 2, 4 and 6 and the one saved on the exception (step 7, ``latest``), a metrics.jsonl
of 7 training records and run.json saying FAILED. It is built once per session and copied
for each scenario. The uninterrupted reference is computed once too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.runs.trainkit import Crash, CrashAt, make_data, make_trainer, snapshot
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.checkpoint import MANIFEST

EPOCHS = 3


def plugins(root: Path, **checkpoint: Any) -> list[object]:
    """The run store and checkpoint plugins every battery run uses."""
    options: dict[str, Any] = {"every_n_steps": 2, "keep_last": None, **checkpoint}
    return [RunStore(root, log_every_n_steps=1), Checkpoint(**options)]


def metrics_of(run: Path) -> list[tuple[Any, ...]]:
    """The records of metrics.jsonl without their wall-clock time."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [tuple(sorted((k, v) for k, v in r.items() if k != "time")) for r in records]


@cache
def straight() -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """Final weights, optimizer and counters, and the metric records, of an uninterrupted run."""
    root = Path(tempfile.mkdtemp(prefix="battery-straight-"))
    trainer = make_trainer([RunStore(root, log_every_n_steps=1)], max_epochs=EPOCHS)
    trainer.fit(make_data(), eval_data=make_data())
    return snapshot(trainer), metrics_of(only_run(root))


@cache
def _crashed_template() -> Path:
    root = Path(tempfile.mkdtemp(prefix="battery-crashed-"))
    trainer = make_trainer([*plugins(root), CrashAt(7)], max_epochs=EPOCHS)
    with pytest.raises(Crash):
        trainer.fit(make_data(), eval_data=make_data())
    return root


def crashed_run(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the crashed run under ``tmp_path/root``: (root, run folder)."""
    root = tmp_path / "root"
    shutil.copytree(_crashed_template(), root, symlinks=True)
    return root, only_run(root)


def only_run(root: Path, experiment: str = "default") -> Path:
    # hidden folders are unitrain's own (a run whose making was killed): not runs
    (run,) = [p for p in (root / experiment).iterdir() if p.is_dir() and p.name[0] != "."]
    return run


def resume(root: Path, **options: Any) -> Any:
    """Resume the experiment under ``root`` from ``latest`` with a differently seeded trainer."""
    trainer = make_trainer(plugins(root, **options), max_epochs=EPOCHS, init_seed=99)
    trainer.fit(make_data(), eval_data=make_data(), resume="latest")
    return trainer


@contextmanager
def caught() -> Iterator[list[str]]:
    """Collect the text of every warning raised inside."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        texts: list[str] = []
        yield texts
    texts.extend(str(w.message) for w in seen)


def rehash(checkpoint: Path, file_name: str = "state.pt") -> None:
    """Make the manifest match the file again, as an attacker controlling the folder would."""
    manifest = json.loads((checkpoint / MANIFEST).read_text())
    data = (checkpoint / file_name).read_bytes()
    manifest["files"][file_name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (checkpoint / MANIFEST).write_text(json.dumps(manifest))


def tree_state(folder: Path) -> dict[str, str]:
    """``{relative path: sha256 or link target}`` of everything under ``folder``."""
    state: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            state[key] = "-> " + str(path.readlink())
        elif path.is_file():
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[key] = "dir"
    return state
