"""Inference: ``eval`` as a plain function, ``eval_path`` as a one-sample prediction pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import unitrain as ut
from tests.compat.pytorch_task._tiny import PointsTask


class FileTask(PointsTask):
    def load_sample(self, path: str) -> Any:
        return torch.load(path, weights_only=True)

    def store_result(self, result: Any, path: str) -> None:
        torch.save(result, path)

    def postprocess(self, result: Any) -> Any:
        return result.argmax(dim=-1)


def test_eval_path_runs_as_a_prediction_pass(tmp_path: Path) -> None:
    events: list[str] = []

    class Watch:
        def on_predict_start(self, state: ut.State) -> None:
            events.append("predict_start")

        def on_predict_step_end(self, state: ut.State, batch: Any, output: Any) -> None:
            events.append(f"predict_step_end {output.tolist()}")

    task = FileTask(epochs=1)
    task.train()
    task.plugins = [Watch()]
    sample = torch.randn(5, 3)
    torch.save(sample, tmp_path / "in.pt")
    task.eval_path(str(tmp_path / "in.pt"), str(tmp_path / "out.pt"))
    result = torch.load(tmp_path / "out.pt", weights_only=True)
    with torch.no_grad():
        assert torch.equal(result, task.model(sample).argmax(dim=-1))
    assert events == ["predict_start", f"predict_step_end {result.tolist()}"]


def test_eval_is_usable_live() -> None:
    task = FileTask()
    sample = torch.randn(2, 3)
    assert task.eval(sample).shape == (2,)
