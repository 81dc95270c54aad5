"""keep-last-K, keep-best-K and protected checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from unitrain.runs.checkpoint import write_checkpoint
from unitrain.runs.retention import monitor_value, select_removals


def _save(directory: Path, step: int, value: float | None) -> Path:
    meta = {
        "position": {"global_step": step, "micro_step": step},
        "monitor": {"name": "val/loss", "value": value},
    }
    return write_checkpoint(directory, f"step-{step:09d}", {"state.pt": torch.zeros(1)}, meta=meta)


def test_keep_last_best_and_protected(tmp_path: Path) -> None:
    losses = {1: 0.9, 2: 0.2, 3: 0.5, 4: None, 5: 0.7, 6: 0.8}
    paths = {step: _save(tmp_path, step, value) for step, value in losses.items()}
    assert monitor_value(paths[2]) == 0.2 and monitor_value(paths[4]) is None
    removals = select_removals(tmp_path, keep_last=2, keep_best=1, protect=[paths[1]])
    assert removals == [paths[3], paths[4]]  # kept: 1 (protected), 2 (best), 5 and 6 (last)
    best_max = select_removals(tmp_path, keep_last=1, keep_best=2, mode="max")
    assert best_max == [paths[2], paths[3], paths[4], paths[5]]  # kept: 1, 6 (0.9, 0.8; 6 last)
    assert select_removals(tmp_path, keep_last=None) == []
    assert select_removals(tmp_path, keep_last=10) == []
