"""TensorBoard callbacks: optional; refused clearly when tensorboard is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.compat.aitoolbox._tiny import make_loop
from unitrain.compat.aitoolbox import TensorboardFullTracking, TensorboardTrainBatchLoss
from unitrain.errors import ConfigError

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


@pytest.mark.skipif(HAS_TENSORBOARD, reason="tensorboard is installed")
def test_missing_tensorboard_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        TensorboardTrainBatchLoss()


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard (optional extra) missing")
def test_full_tracking_writes_event_files(tmp_path: Path) -> None:
    tracking = TensorboardFullTracking(batch_log_frequency=2, log_dir=str(tmp_path))
    make_loop().fit(num_epochs=1, callbacks=[tracking])
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())
