"""The pytest plugin of unitrain, registered through the ``pytest11`` entry point.

Every pytest session in an environment with unitrain installed gets these fixtures (a
test's own fixture of the same name wins):

- ``tiny_task`` / ``tiny_data``: a two-layer classifier and batches for it;
- ``event_recorder``: a :class:`~unitrain.testing.RecordingPlugin` for ``Trainer(plugins=)``;
- ``fake_distribution``: installs a made-up distribution with entry points (on ``sys.path``
  for this test only);
- ``unitrain_fit``: runs ``unitrain fit`` in a subprocess with runs under ``tmp_path``.

This module imports nothing heavy at import time: torch is loaded by the fixtures that
need it, so the plugin costs nothing to sessions that do not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from unitrain.tasks import Task
    from unitrain.testing.process import FitRun
    from unitrain.testing.recording import RecordingPlugin


@pytest.fixture
def tiny_task() -> Task:
    """A fresh two-layer classifier task (4 features, 2 classes, SGD)."""
    from unitrain.testing.tiny import tiny_task as make

    return make()


@pytest.fixture
def tiny_data() -> list[Any]:
    """Four batches of 8 samples for :func:`tiny_task`."""
    from unitrain.testing.tiny import tiny_batches

    return tiny_batches()


@pytest.fixture
def event_recorder() -> RecordingPlugin:
    """A plugin recording every event hook; see ``RecordingPlugin.assert_sequence``."""
    from unitrain.testing.recording import RecordingPlugin

    return RecordingPlugin()


@pytest.fixture
def fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Path]]:
    """``fake_distribution(name, version, entry_points=..., modules=...)`` installs a
    distribution for this test; the folder is on ``sys.path`` and returned (put it on
    ``PYTHONPATH`` for subprocesses). Modules it imported are forgotten afterwards."""
    from unitrain.testing.distributions import forget_modules, make_distribution

    root = tmp_path / "site"
    monkeypatch.syspath_prepend(str(root))
    made: list[str] = []

    def make(name: str, version: str = "1.0", **kwargs: Any) -> Path:
        made.extend(Path(m).parts[0].removesuffix(".py") for m in kwargs.get("modules", {}))
        return make_distribution(root, name, version, **kwargs)

    yield make
    forget_modules(*made)


@pytest.fixture
def unitrain_fit(tmp_path: Path) -> Callable[..., FitRun]:
    """``unitrain_fit(config, args=(...), env={...})`` runs ``unitrain fit`` in a
    subprocess in ``tmp_path`` and returns a :class:`~unitrain.testing.FitRun`."""
    from unitrain.testing.process import run_fit

    def fit(config: Path | dict[str, Any], **kwargs: Any) -> FitRun:
        return run_fit(config, tmp_path, **kwargs)

    return fit
