"""``aitoolbox.experiment.result_reporting.report_generator``: the training history as
plots (matplotlib, loaded only when there is something to draw) and as text / TSV / CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from unitrain.compat.aitoolbox.experiment.training_history import TrainingHistory
from unitrain.compat.aitoolbox.plotting import require_pyplot
from unitrain.errors import ConfigError

__all__ = ["GradientPlotter", "TrainingHistoryPlotter", "TrainingHistoryWriter"]


def _save_figures(
    figures: Iterator[tuple[Any, Any]],
    folder: str,
    folder_name: str,
    file_format: str,
    prefix: str = "",
) -> list[list[str]]:
    """Write each ``(name, figure)`` as a PNG in ``folder``, or all into one PDF beside it."""
    if file_format not in ("png", "pdf"):
        raise ConfigError(
            f"plots: file_format {file_format!r} is not supported; use 'png' or 'pdf'"
        )
    paths: list[list[str]] = []
    pdf: Any = None
    try:
        for name, figure in figures:
            plt = require_pyplot("plotting the training history")
            if file_format == "pdf":
                if pdf is None:
                    from matplotlib.backends.backend_pdf import PdfPages

                    pdf_path = os.path.join(os.path.dirname(folder), f"{folder_name}.pdf")
                    pdf = PdfPages(pdf_path)
                    paths.append([f"{folder_name}.pdf", pdf_path])
                pdf.savefig(figure)
            else:
                os.makedirs(folder, exist_ok=True)
                file_name = f"{prefix}{name}.png"
                figure.savefig(os.path.join(folder, file_name))
                paths.append(
                    [os.path.join(folder_name, file_name), os.path.join(folder, file_name)]
                )
            plt.close(figure)
    finally:
        if pdf is not None:
            pdf.close()
    return paths


class TrainingHistoryPlotter:
    """One line plot per metric with more than one value (per-epoch dicts flattened)."""

    def __init__(self, experiment_results_local_path: str) -> None:
        self.experiment_results_local_path = experiment_results_local_path

    def generate_report(
        self,
        training_history: TrainingHistory,
        plots_folder_name: str = "plots",
        file_format: str = "png",
    ) -> list[list[str]]:
        """``[[path inside the results folder, local path], ...]`` of the written plots."""
        folder = os.path.join(self.experiment_results_local_path, plots_folder_name)
        if file_format == "png":
            os.makedirs(folder, exist_ok=True)
        return _save_figures(
            self.generate_plots(training_history), folder, plots_folder_name, file_format
        )

    @staticmethod
    def generate_plots(training_history: TrainingHistory) -> Iterator[tuple[str, Any]]:
        """``(metric name, figure)`` for each metric with more than one value."""
        for name, values in training_history.get_train_history_dict(flatten_dict=True).items():
            if len(values) > 1:
                yield name, TrainingHistoryPlotter.plot_performance_curve(name, values)

    @staticmethod
    def plot_performance_curve(metric_name: str, result_history: Sequence[float]) -> Any:
        """A figure of ``result_history`` over the epochs, titled with its best and worst."""
        plt = require_pyplot("TrainingHistoryPlotter")
        figure, axes = plt.subplots(figsize=(10, 8))
        axes.plot(range(len(result_history)), result_history, marker="o")
        axes.set_xlabel("Epoch")
        axes.set_ylabel(metric_name)
        best, worst = int(np.argmax(result_history)), int(np.argmin(result_history))
        axes.set_title(
            f"{metric_name}\nmax {result_history[best]} (epoch {best}), "
            f"min {result_history[worst]} (epoch {worst})"
        )
        return figure


class TrainingHistoryWriter:
    """Appends the latest value of every metric to a report file, once per call."""

    def __init__(self, experiment_results_local_path: str) -> None:
        self.experiment_results_local_path = experiment_results_local_path
        self.metric_name_cols: list[str] | None = None

    def generate_report(
        self,
        training_history: TrainingHistory,
        epoch: int,
        file_name: str,
        results_folder_name: str = "",
        file_format: str = "txt",
    ) -> tuple[str, str]:
        """Append epoch ``epoch`` as ``txt`` (readable), ``tsv`` or ``csv``; returns
        ``(path inside the results folder, local path)``."""
        writers = {"txt": None, "tsv": "\t", "csv": ","}
        if file_format not in writers:
            raise ConfigError(
                f"TrainingHistoryWriter: file_format {file_format!r} is not supported; use "
                "'txt', 'tsv' or 'csv'"
            )
        folder = os.path.join(self.experiment_results_local_path, results_folder_name)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, file_name)
        delimiter = writers[file_format]
        if delimiter is None:
            self.write_txt(training_history, epoch, path)
        else:
            self.write_csv_tsv(training_history, epoch, path, delimiter)
        return os.path.join(results_folder_name or "", file_name), path

    @staticmethod
    def write_txt(training_history: TrainingHistory, epoch: int, file_path: str) -> None:
        """A block per epoch: a header, then ``name:<TAB>latest value`` lines."""
        rule = "============================\n"
        with open(file_path, "a") as handle:
            handle.write(f"{rule}Epoch: {epoch}\n{rule}")
            for name, values in training_history.get_train_history_dict(flatten_dict=True).items():
                handle.write(f"{name}:\t{values[-1]}\n")
            handle.write("\n\n")

    def write_csv_tsv(
        self, training_history: TrainingHistory, epoch: int, file_path: str, delimiter: str
    ) -> None:
        """One row per epoch; a new header row (after ``NEW_METRICS_DETECTED``) when the
        set of metrics changes."""
        history = training_history.get_train_history_dict(flatten_dict=True)
        names = list(history)
        with open(file_path, "a", newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            if self.metric_name_cols is None:
                self.metric_name_cols = names
                writer.writerow(["Epoch", *names])
            if sorted(names) != sorted(self.metric_name_cols):
                self.metric_name_cols = names
                writer.writerow(["NEW_METRICS_DETECTED"])
                writer.writerow(["Epoch", *names])
            writer.writerow([epoch, *(history[name][-1] for name in self.metric_name_cols)])


class GradientPlotter:
    """A histogram of each layer's gradients."""

    def __init__(self, experiment_grad_results_local_path: str) -> None:
        self.experiment_grad_results_local_path = experiment_grad_results_local_path

    def generate_report(
        self,
        model_layer_gradients: Sequence[Any],
        grad_plots_folder_name: str = "grad_plots",
        file_format: str = "png",
    ) -> list[list[str]]:
        """``[[path inside the results folder, local path], ...]`` of the written plots."""
        folder = os.path.join(self.experiment_grad_results_local_path, grad_plots_folder_name)
        return _save_figures(
            self.generate_dist_plots(model_layer_gradients),
            folder,
            grad_plots_folder_name,
            file_format,
            "layer_",
        )

    @staticmethod
    def generate_dist_plots(
        model_layer_gradients: Sequence[Any], layer_names: Sequence[str] | None = None
    ) -> Iterator[tuple[str, Any]]:
        """``(layer name, figure)`` for each layer whose gradients are not ``None``."""
        for index, gradients in enumerate(model_layer_gradients):
            name = str(index if layer_names is None else layer_names[index])
            if gradients is None:
                print(f"Layer {name} has no gradients")
                continue
            yield name, GradientPlotter.plot_gradient_distribution(gradients, name)

    @staticmethod
    def plot_gradient_distribution(gradients: Any, layer_name: str) -> Any:
        """A histogram figure of one layer's flattened gradients, titled with mean and std."""
        plt = require_pyplot("GradientPlotter")
        values = np.asarray(gradients, dtype=float).reshape(-1)
        figure, axes = plt.subplots(figsize=(10, 8))
        axes.hist(values, bins=50)
        axes.set_xlabel("Gradient magnitude")
        axes.set_title(
            f"Gradient distribution for layer {layer_name}\n"
            f"mean {np.mean(values)}, std {np.std(values)}"
        )
        return figure
