"""Reports: hyperparameter files, history as text / TSV / CSV, plots of history and gradients."""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from unitrain.compat.aitoolbox.experiment.result_reporting.hyperparam_reporter import (
    HyperParamSourceReporter,
)
from unitrain.compat.aitoolbox.experiment.result_reporting.report_generator import (
    GradientPlotter,
    TrainingHistoryPlotter,
    TrainingHistoryWriter,
)
from unitrain.compat.aitoolbox.experiment.training_history import TrainingHistory
from unitrain.errors import ConfigError


def test_hyperparameters_script_and_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reporter = HyperParamSourceReporter("proj", "exp", "ts", str(tmp_path))
    folder = tmp_path / "proj" / "exp_ts"
    assert reporter.experiment_dir_path == str(folder) and folder.is_dir()
    written = reporter.save_hyperparams_to_text_file({"lr": 0.1, "batch": 8}, sort_names=True)
    assert Path(written).read_text() == "batch:\t8\nlr:\t0.1\n"
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    assert reporter.save_experiment_python_file({"experiment_file_path": str(script)}) == str(
        folder / "train.py"
    )
    assert (
        reporter.save_experiment_python_file({"experiment_file_path": str(tmp_path / "gone.py")})
        is None
    )
    assert reporter.save_experiment_python_file({}) is None
    assert "not copied" in capsys.readouterr().out
    source = tmp_path / "src" / "pkg"
    source.mkdir(parents=True)
    (source / "mod.py").write_text("x = 1\n")
    archive = reporter.save_experiment_source_files({"source_dirs_paths": [str(source)]})
    assert archive == str(folder / "source_code.zip") and not (folder / "source_code").exists()
    assert zipfile.ZipFile(archive).read("pkg/mod.py") == b"x = 1\n"
    assert reporter.save_experiment_source_files({"source_dirs_paths": []}) is None


def history() -> TrainingHistory:
    return TrainingHistory().wrap_pre_prepared_history(
        {"loss": [3.0, 2.0], "val_loss": [], "acc": [0.5]}
    )


def test_text_report_appends_one_block_per_call(tmp_path: Path) -> None:
    writer = TrainingHistoryWriter(str(tmp_path))
    inner, path = writer.generate_report(history(), 0, "report.txt", "results")
    assert (inner, path) == (
        os.path.join("results", "report.txt"),
        str(tmp_path / "results" / "report.txt"),
    )
    grown = history()
    grown["acc"] = 0.75
    writer.generate_report(grown, 1, "report.txt", "results")
    block = "============================\nEpoch: {}\n============================\n"
    assert Path(path).read_text() == (
        block.format(0)
        + "loss:\t2.0\nacc:\t0.5\n\n\n"
        + block.format(1)
        + "loss:\t2.0\nacc:\t0.75\n\n\n"
    )
    assert writer.generate_report(history(), 0, "top.txt")[0] == "top.txt"


@pytest.mark.parametrize(("file_format", "delimiter"), [("tsv", "\t"), ("csv", ",")])
def test_table_report_starts_a_new_header_when_metrics_change(
    tmp_path: Path, file_format: str, delimiter: str
) -> None:
    writer = TrainingHistoryWriter(str(tmp_path))
    current = TrainingHistory(has_validation=False)
    current["loss"] = 1.0
    writer.generate_report(current, 0, "h", file_format=file_format)
    current["loss"] = 0.5
    current["acc"] = 0.9
    writer.generate_report(current, 1, "h", file_format=file_format)
    with open(tmp_path / "h", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    assert rows == [
        ["Epoch", "loss"],
        ["0", "1.0"],
        ["NEW_METRICS_DETECTED"],
        ["Epoch", "loss", "acc"],
        ["1", "0.5", "0.9"],
    ]
    with pytest.raises(ConfigError, match="'xml' is not supported"):
        writer.generate_report(current, 2, "h", file_format="xml")


def test_history_plots_as_png_or_one_pdf(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plotter = TrainingHistoryPlotter(str(tmp_path))
    pngs = plotter.generate_report(history())
    assert pngs == [[os.path.join("plots", "loss.png"), str(tmp_path / "plots" / "loss.png")]]
    assert (tmp_path / "plots" / "loss.png").stat().st_size > 0
    assert plotter.generate_report(history(), "all", "pdf") == [
        ["all.pdf", str(tmp_path / "all.pdf")]
    ]
    assert (tmp_path / "all.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(ConfigError, match="'svg' is not supported"):
        plotter.generate_report(history(), file_format="svg")


def test_gradient_plots_skip_layers_without_gradients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    plots = GradientPlotter(str(tmp_path)).generate_report([np.arange(10.0), None])
    assert plots == [
        [os.path.join("grad_plots", "layer_0.png"), str(tmp_path / "grad_plots" / "layer_0.png")]
    ]
    assert "Layer 1 has no gradients" in capsys.readouterr().out
