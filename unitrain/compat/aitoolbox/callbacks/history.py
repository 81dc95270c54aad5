"""History callbacks: derive or rename entries, plot the curves, write the table to a file."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from typing import Any

from unitrain.compat.aitoolbox.abstract import AbstractCallback, AbstractExperimentCallback
from unitrain.compat.aitoolbox.experiment import experiment_dir, upload
from unitrain.compat.aitoolbox.messages import MessageHandling
from unitrain.errors import ConfigError

__all__ = [
    "MetricHistoryRename",
    "ModelTrainHistoryFileWriter",
    "ModelTrainHistoryPlot",
    "TrainHistoryFormatter",
]


class TrainHistoryFormatter(AbstractCallback):
    """Write ``output_metric_setter(input_metric_getter(history))`` into the history.

    The getter reads a value from ``train_history``; the setter turns it into
    ``(metric name, value)``. With ``strict_metric_extract`` a getter failure is an error,
    else the entry is skipped.
    """

    def __init__(
        self,
        input_metric_getter: Callable[[Any], Any],
        output_metric_setter: Callable[[Any], tuple[str, Any]],
        epoch_end: bool = True,
        train_end: bool = False,
        strict_metric_extract: bool = True,
    ) -> None:
        super().__init__("Train history general formatter engine")
        if not (epoch_end or train_end):
            raise ConfigError("TrainHistoryFormatter: set epoch_end or train_end")
        self.input_metric_getter = input_metric_getter
        self.output_metric_setter = output_metric_setter
        self.epoch_end = epoch_end
        self.train_end = train_end
        self.strict_metric_extract = strict_metric_extract

    def format_history(self) -> None:
        """Apply the getter and setter once."""
        history = self.train_loop_obj.train_history
        try:
            value = self.input_metric_getter(history)
        except (KeyError, IndexError) as error:
            if self.strict_metric_extract:
                raise ConfigError(
                    f"{self.callback_name}: the input metric getter failed on train_history "
                    f"({type(error).__name__}: {error}); it holds {sorted(history.keys())}"
                ) from None
            return
        name, result = self.output_metric_setter(value)
        self.train_loop_obj.insert_metric_result_into_history(name, result)

    def on_epoch_end(self) -> None:
        if self.epoch_end:
            self.format_history()

    def on_train_end(self) -> None:
        if self.train_end:
            self.format_history()


class MetricHistoryRename(TrainHistoryFormatter):
    """Copy the last value of ``input_metric_path`` (``"a/b"`` reaches into a dict value)
    to ``new_metric_name``."""

    def __init__(
        self,
        input_metric_path: str,
        new_metric_name: str,
        epoch_end: bool = True,
        train_end: bool = False,
        strict_metric_extract: bool = True,
    ) -> None:
        self.input_metric_path = input_metric_path
        self.new_metric_name = new_metric_name
        super().__init__(self._get, self._set, epoch_end, train_end, strict_metric_extract)
        self.callback_name = "Metric rename"

    def _get(self, history: Any) -> Any:
        first, *rest = self.input_metric_path.split("/")
        value = history[first][-1]
        for key in rest:
            value = value[key]
        return value

    def _set(self, value: Any) -> tuple[str, Any]:
        return self.new_metric_name, value

    def check_if_history_updated(self, train_end_phase: bool) -> bool:
        """aitoolbox's guard: the input metric has one value per epoch so far (one at the end
        of training); else an error (``strict_metric_extract``) or a skip."""
        history = self.train_loop_obj.train_history
        first = self.input_metric_path.split("/")[0]
        expected = 1 if train_end_phase else self.train_loop_obj.epoch + 1
        found = len(history[first]) if first in history else 0
        if found == expected:
            return True
        message = (
            f"MetricHistoryRename: {self.input_metric_path!r} has {found} values in "
            f"train_history, {expected} expected at this point; the callback that computes it "
            "must run first (lower execution_order) and once per epoch"
        )
        if self.strict_metric_extract:
            raise ConfigError(message)
        print(message)
        return False

    def on_epoch_end(self) -> None:
        if self.epoch_end and self.check_if_history_updated(False):
            self.format_history()

    def on_train_end(self) -> None:
        if self.train_end and self.check_if_history_updated(True):
            self.format_history()


class _HistoryFiles(AbstractExperimentCallback):
    """Shared by the plot and file writer: when to write, into ``results/``."""

    def __init__(
        self,
        name: str,
        epoch_end: bool,
        train_end: bool,
        file_format: str,
        formats: tuple[str, ...],
        **experiment: Any,
    ) -> None:
        super().__init__(name, execution_order=97, device_idx_execution=0, **experiment)
        if file_format not in formats:
            raise ConfigError(f"{name}(file_format={file_format!r}): expected one of {formats}")
        self.epoch_end = epoch_end
        self.train_end = train_end
        self.file_format = file_format
        self.saved_paths: list[str] = []

    def on_train_loop_registration(self) -> None:
        self.try_infer_experiment_details(infer_cloud_details=True)

    def write(self, folder: str, prefix: str) -> list[str]:
        """Write the files into ``folder`` (``results/``); return their paths."""
        raise NotImplementedError

    def _write(self, prefix: str) -> None:
        folder = os.path.join(experiment_dir(self), "results")
        os.makedirs(folder, exist_ok=True)
        for path in self.write(folder, prefix):
            self.saved_paths.append(path)
            upload(self, path)
            self.message_service.write_message(
                f"{type(self).__name__}_paths", path, MessageHandling.UNTIL_END_OF_EPOCH
            )

    def on_epoch_end(self) -> None:
        if self.epoch_end:
            self._write("")

    def on_train_end(self) -> None:
        if self.train_end:
            self._write("train_end_")


class ModelTrainHistoryFileWriter(_HistoryFiles):
    """Write ``train_history`` as a table (one row per epoch): txt, tsv or csv."""

    def __init__(
        self,
        epoch_end: bool = True,
        train_end: bool = False,
        file_format: str = "txt",
        **experiment: Any,
    ) -> None:
        super().__init__(
            "Model Training History file writer",
            epoch_end,
            train_end,
            file_format,
            ("txt", "tsv", "csv"),
            **experiment,
        )
        self.columns: list[str] | None = None  # the tsv / csv header written last

    def write(self, folder: str, prefix: str) -> list[str]:
        """Append this epoch's latest values to ``results/<prefix>results.<format>``, as
        aitoolbox did: a titled block per epoch (txt), or a table row, with a new header
        under ``NEW_METRICS_DETECTED`` when the metrics change (tsv / csv)."""
        history = self.train_loop_obj.train_history
        latest = {name: values[-1] for name, values in history.items() if values}
        epoch = self.train_loop_obj.epoch
        path = os.path.join(folder, f"{prefix}results.{self.file_format}")
        with open(path, "a", newline="") as handle:
            if self.file_format == "txt":
                handle.write(f"============================\nEpoch: {epoch}\n")
                handle.write("============================\n")
                handle.writelines(f"{name}:\t{value}\n" for name, value in latest.items())
                handle.write("\n\n")
                return [path]
            writer = csv.writer(handle, delimiter="," if self.file_format == "csv" else "\t")
            if self.columns is None or sorted(self.columns) != sorted(latest):
                if self.columns is not None:
                    writer.writerow(["NEW_METRICS_DETECTED"])
                self.columns = list(latest)
                writer.writerow(["Epoch", *self.columns])
            writer.writerow([epoch, *(latest[name] for name in self.columns)])
        return [path]


class ModelTrainHistoryPlot(_HistoryFiles):
    """Plot every metric's per-epoch curve (png or pdf). Needs matplotlib."""

    def __init__(
        self,
        epoch_end: bool = True,
        train_end: bool = False,
        file_format: str = "png",
        **experiment: Any,
    ) -> None:
        super().__init__(
            "Model Train history Plot",
            epoch_end,
            train_end,
            file_format,
            ("png", "pdf"),
            **experiment,
        )
        from unitrain.compat.aitoolbox.plotting import require_pyplot

        require_pyplot("ModelTrainHistoryPlot")

    def write(self, folder: str, prefix: str) -> list[str]:
        """One curve per metric with more than one value, in
        ``results/<prefix>plots_epoch_<epoch>/`` (aitoolbox's folder)."""
        from unitrain.compat.aitoolbox.plotting import require_pyplot

        plt = require_pyplot("ModelTrainHistoryPlot")
        folder = os.path.join(folder, f"{prefix}plots_epoch_{self.train_loop_obj.epoch}")
        os.makedirs(folder, exist_ok=True)
        paths = []
        for name, values in self.train_loop_obj.train_history.items():
            numbers = [v for v in values if isinstance(v, int | float)]
            if len(numbers) < 2:
                continue
            figure = plt.figure()
            plt.plot(range(len(numbers)), numbers)
            plt.xlabel("epoch")
            plt.ylabel(name)
            path = os.path.join(folder, f"{name}.{self.file_format}")
            figure.savefig(path)
            plt.close(figure)
            paths.append(path)
        return paths
