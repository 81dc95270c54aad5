"""``Snapshot``: one trained version of an experiment, bound to the git commit of its code.

A Snapshot is a view onto a run directory of unitrain's run store
(:mod:`unitrain.runs.store`), not a second store: its data lives under the ``snapshot`` key
of ``run.json`` (written atomically: temporary file, fsync, rename), its model files in
``artifacts/``, and every numeric value stored for train / val / test is also appended to
``metrics.jsonl`` so ``unitrain runs`` sees it. The commit and the dirty flag of the user's
code are recorded with ``git`` (read-only: nothing is ever committed).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import weakref
from numbers import Real
from pathlib import Path
from types import TracebackType
from typing import Any

from unitrain.runs.store import RunDir, create_run, git_state

__all__ = ["DummySnapshot", "Snapshot", "SnapshotView", "git_state"]

_IMMUTABLE = ("uid", "commit_sha", "dirty", "timestamp", "filename", "comment")
_MUTABLE = ("train_data", "val_data", "test_data", "model_files", "custom_data")
_SPLITS = {"train_data": "train", "val_data": "val", "test_data": "test"}


class Snapshot:
    """Data and metadata of one trained version (seed API).

    Immutable: ``uid``, ``commit_sha``, ``dirty``, ``timestamp``, ``filename``, ``comment``.
    Mutable: ``train_data``, ``val_data``, ``test_data``, ``model_files``, ``custom_data``,
    changed only through the ``*_storage()`` views, ``register_model_file`` and ``reset``.
    ``Snapshot(path)`` opens the run directory ``path``; :meth:`create` makes a new one.
    """

    def __init__(self, root_path: str | os.PathLike[str]) -> None:
        self.root_path = str(root_path)
        self.uid: str | None = None
        self.commit_sha: str | None = None
        self.dirty: bool | None = None
        self.timestamp: float | None = None
        self.filename: str | None = None
        self.comment: str | None = None
        self.train_data: dict[str, Any] = {}
        self.val_data: dict[str, Any] = {}
        self.test_data: dict[str, Any] = {}
        self.model_files: list[str] = []
        self.custom_data: dict[str, Any] = {}
        self.deserialize()

    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str] = "runs",
        experiment: str = "default",
        comment: str = "",
        code_dir: str | os.PathLike[str] | None = None,
        filename: str | None = None,
    ) -> Snapshot:
        """A new run directory ``<root>/<experiment>/<timestamp>-<id>`` for a new snapshot,
        recording the commit and dirty flag of the git tree holding ``code_dir`` (default:
        the current directory)."""
        git = git_state(Path(code_dir) if code_dir is not None else Path.cwd())
        run = create_run(root, experiment, git=git)
        data: dict[str, Any] = {
            "uid": run.name,
            "commit_sha": None if git is None else git["commit"],
            "dirty": None if git is None else git["dirty"],
            "timestamp": time.time(),
            "filename": filename or os.path.basename(sys.argv[0] or ""),
            "comment": comment,
            **{key: [] if key == "model_files" else {} for key in _MUTABLE},
        }
        run.update(snapshot=data)
        return cls(run.path)

    @property
    def run(self) -> RunDir:
        """The run directory this snapshot is a view onto."""
        return RunDir(Path(self.root_path))

    def make_path(self, filename: str) -> str:
        """Where an asset named ``filename`` lives (the run's ``artifacts/``)."""
        return str(self.run.artifacts / filename)

    def deserialize(self) -> None:
        """Reload every field from ``run.json`` (another process may have written)."""
        data = RunDir.open(self.root_path).info().get("snapshot")
        if not isinstance(data, dict):
            raise FileNotFoundError(
                f"{self.root_path} is a run directory without snapshot data; open a run made "
                "by Snapshot.create (or the PytorchTask command line)"
            )
        for key in (*_IMMUTABLE, *_MUTABLE):
            if key in data:
                setattr(self, key, data[key])

    def serialize(self) -> None:
        """Write every field to ``run.json`` atomically (a crash leaves the old file)."""
        self.run.update(snapshot={key: getattr(self, key) for key in (*_IMMUTABLE, *_MUTABLE)})

    def record_metrics(self, split: str, values: dict[str, Any]) -> None:
        """Append stored numbers to the run's ``metrics.jsonl`` (the run store's record)."""
        numbers = {k: v for k, v in values.items() if _is_number(v)}
        if numbers:
            epoch = numbers.pop("epoch_i", None)
            self.run.append_metrics({"step": None, "epoch": epoch, "split": split, **numbers})

    def reset(self) -> None:
        """Forget every mutable entry and delete the model files and other assets."""
        for key in _MUTABLE:
            setattr(self, key, [] if key == "model_files" else {})
        artifacts = self.run.artifacts
        if artifacts.is_dir():
            for item in artifacts.iterdir():
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        self.serialize()

    def train_storage(self) -> SnapshotView:
        """A transaction on ``train_data``."""
        return SnapshotView(self, "train_data")

    def val_storage(self) -> SnapshotView:
        """A transaction on ``val_data``."""
        return SnapshotView(self, "val_data")

    def test_storage(self) -> SnapshotView:
        """A transaction on ``test_data``."""
        return SnapshotView(self, "test_data")

    def custom_storage(self) -> SnapshotView:
        """A transaction on ``custom_data``."""
        return SnapshotView(self, "custom_data")

    def register_model_file(self, filename: str) -> None:
        """Record a model file saved under :meth:`make_path`."""
        self.deserialize()
        self.model_files.append(filename)
        self.serialize()

    def fetch_last_model_file(self) -> str | None:
        """The full path of the last registered model file, or None."""
        return self.make_path(self.model_files[-1]) if self.model_files else None


class SnapshotView:
    """``with snapshot.train_storage() as t: t.store(name, v); t.append(name, v)``.

    Entering reloads the snapshot (so writes of another instance are kept); leaving writes
    it atomically and appends the numbers to ``metrics.jsonl``.
    """

    def __init__(self, parent: Snapshot, field: str) -> None:
        self.parent = parent
        self.field = field
        self.ready = False
        self.written: dict[str, Any] = {}

    @property
    def data(self) -> dict[str, Any]:
        """The dictionary this view writes to."""
        target: dict[str, Any] = getattr(self.parent, self.field)
        return target

    def _check(self) -> None:
        if not self.ready:
            raise RuntimeError(
                "SnapshotView is a context manager: use `with snapshot.train_storage() as t:`"
            )

    def store(self, name: str, value: Any) -> None:
        """Set ``name`` to ``value`` (overwriting)."""
        self._check()
        self.data[name] = value
        self.written[name] = value

    def append(self, name: str, value: Any) -> None:
        """Append ``value`` to the list under ``name``."""
        self._check()
        self.data.setdefault(name, []).append(value)
        self.written[name] = value

    def __enter__(self) -> SnapshotView:
        self.parent.deserialize()
        self.ready = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.ready = False
        self.parent.serialize()
        split = _SPLITS.get(self.field)
        if split is not None:
            self.parent.record_metrics(split, self.written)
        self.written = {}


class DummySnapshot(Snapshot):
    """A snapshot bound to no commit and no run: it collects data in memory only.

    Model files go to a private temporary directory (the seed wrote them into the current
    directory), so ``save_model`` / ``load_model`` still work without a run store.
    """

    def __init__(self) -> None:  # no run directory to read
        self.root_path = ""
        self.uid = self.commit_sha = self.filename = self.comment = None
        self.dirty = None
        self.timestamp = None
        self.train_data, self.val_data, self.test_data, self.custom_data = {}, {}, {}, {}
        self.model_files = []
        self._folder: str | None = None

    def make_path(self, filename: str) -> str:
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="unitrain-dummy-snapshot-")
            weakref.finalize(self, shutil.rmtree, self._folder, True)  # gone with the snapshot
        return os.path.join(self._folder, filename)

    def deserialize(self) -> None:
        pass

    def serialize(self) -> None:
        pass

    def record_metrics(self, split: str, values: dict[str, Any]) -> None:
        pass

    def reset(self) -> None:
        for key in _MUTABLE:
            setattr(self, key, [] if key == "model_files" else {})


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)
