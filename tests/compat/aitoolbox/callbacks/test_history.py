"""History callbacks: formatter, rename, table writer, plots."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from tests.compat.aitoolbox._tiny import make_batches, make_loop
from unitrain.compat.aitoolbox import (
    MetricHistoryRename,
    ModelTrainHistoryFileWriter,
    ModelTrainHistoryPlot,
    TrainHistoryFormatter,
)
from unitrain.errors import ConfigError

EXPERIMENT = {"project_name": "proj", "experiment_name": "exp"}


def test_formatter_and_rename() -> None:
    doubled = TrainHistoryFormatter(
        lambda history: history["val_loss"][-1], lambda value: ("double_val_loss", 2 * value)
    )
    rename = MetricHistoryRename("val_loss", "validation_loss")
    at_end = MetricHistoryRename(
        "train_end_test_loss", "test_loss", epoch_end=False, train_end=True
    )
    loop = make_loop(test=make_batches(1, seed=3))
    loop.fit(num_epochs=2, callbacks=[doubled, rename, at_end])
    history = loop.train_history
    assert history["double_val_loss"] == [2 * v for v in history["val_loss"]]
    assert history["validation_loss"] == history["val_loss"]
    assert history["test_loss"] == history["train_end_test_loss"]
    # aitoolbox's guard: the input must have one value per epoch so far (one at the end)
    with pytest.raises(ConfigError, match="2 values in train_history, 1 expected"):
        make_loop().fit(
            num_epochs=2,
            callbacks=[MetricHistoryRename("val_loss", "v", epoch_end=False, train_end=True)],
        )
    lenient = MetricHistoryRename("nothing", "x", strict_metric_extract=False)
    loop = make_loop()
    loop.fit(num_epochs=1, callbacks=[lenient])
    assert "x" not in loop.train_history


@pytest.mark.parametrize(("file_format", "delimiter"), [("csv", ","), ("tsv", "\t")])
def test_history_file_writer(tmp_path: Path, file_format: str, delimiter: str) -> None:
    writer = ModelTrainHistoryFileWriter(
        file_format=file_format, local_model_result_folder_path=str(tmp_path), **EXPERIMENT
    )
    loop = make_loop()
    loop.fit(num_epochs=2, callbacks=[writer])
    with open(writer.saved_paths[-1], newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    # aitoolbox's table: one row appended per epoch under one header
    assert rows[0] == ["Epoch", "loss", "accumulated_loss", "val_loss"]
    assert len(rows) == 3 and float(rows[2][3]) == pytest.approx(loop.train_history["val_loss"][1])
    assert [row[0] for row in rows[1:]] == ["0", "1"]
    assert Path(writer.saved_paths[-1]).name == f"results.{file_format}"
    with pytest.raises(ConfigError, match="file_format"):
        ModelTrainHistoryFileWriter(file_format="xlsx")


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib missing")
def test_history_plot_writes_pngs(tmp_path: Path) -> None:
    plot = ModelTrainHistoryPlot(
        epoch_end=False, train_end=True, local_model_result_folder_path=str(tmp_path), **EXPERIMENT
    )
    make_loop().fit(num_epochs=2, callbacks=[plot])
    names = sorted(Path(p).name for p in plot.saved_paths)
    assert names == ["accumulated_loss.png", "loss.png", "val_loss.png"]
    assert Path(plot.saved_paths[0]).parent.name == "train_end_plots_epoch_1"  # aitoolbox's
    assert all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in plot.saved_paths)


def test_history_file_writer_txt_blocks(tmp_path: Path) -> None:
    writer = ModelTrainHistoryFileWriter(local_model_result_folder_path=str(tmp_path), **EXPERIMENT)
    loop = make_loop(val=None)
    loop.fit(num_epochs=2, callbacks=[writer])
    lines = Path(writer.saved_paths[-1]).read_text().splitlines()
    assert lines[:3] == ["=" * 28, "Epoch: 0", "=" * 28]
    assert lines[3].startswith("loss:\t") and lines[4].startswith("accumulated_loss:\t")
    assert lines.count("Epoch: 1") == 1 and lines[-2:] == ["", ""]
