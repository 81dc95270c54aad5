"""ikkuna's plotting backends: TensorBoard (``'tb'``), matplotlib (``'mpl'``) and none.

A :class:`~unitrain.compat.ikkuna.export.subscriber.PlotSubscriber` keeps its backend in
``self._backend`` and calls ``add_data(module_name, value, step)`` (a line per module) or
``add_histogram(module_name, values, step)``.

TensorBoard layout, as ikkuna's: every TensorBoard backend of a process writes to
``<log dir>/run<N>``, where the log directory is ``runs`` (or :func:`configure_prefix`'s) and
``N`` the number of entries it held when the first backend of the process opened it. A
subscriber's values are ``add_scalars(<title>, {<module>: value})``: TensorBoard files them in
the sub-folder ``<title>_<module>`` (ikkuna's module names start with ``/``, so for
``/features/conv2d0`` that is ``<title>_/features/conv2d0``) under the tag ``<title>``.
Histograms are tagged ``"<title>: <module>"``; each writer also records the run-info text
(:func:`set_run_info`) as ``run_conf``.

Differences on purpose: events are flushed when the process exits and on :meth:`flush`
(ikkuna's tensorboardX writer lost what was buffered at exit); the matplotlib backend draws
only when its canvas is interactive (``plt.show`` on a non-interactive backend would warn
every redraw) and its histograms are 2-D outlines of the last ``max_hists`` buffers, not
ikkuna's 3-D waterfall.
"""

from __future__ import annotations

import abc
import atexit
import os
import weakref
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch

from unitrain.errors import ConfigError

__all__ = [
    "Backend",
    "MPLBackend",
    "NullBackend",
    "TBBackend",
    "configure_prefix",
    "set_run_info",
]

_prefix: list[str | None] = [None]
_run_dirs: dict[str, str] = {}


def configure_prefix(prefix: str | None) -> None:
    """Make ``prefix`` the TensorBoard log directory (ikkuna: ``--log-dir``)."""
    _prefix[0] = prefix


def set_run_info(info: str) -> None:
    """The text every TensorBoard backend records as ``run_conf`` (e.g. the script's args)."""
    TBBackend.info = info


def _run_dir(log_dir: str) -> str:
    # one run folder per log directory and process, numbered by what was there before
    where = os.path.abspath(log_dir)
    if where not in _run_dirs:
        index = len(os.listdir(where)) if os.path.isdir(where) else 0
        _run_dirs[where] = os.path.join(where, f"run{index}")
    return _run_dirs[where]


def _close_at_exit(writer: Callable[[], Any]) -> None:
    alive = writer()
    if alive is not None:
        alive.close()


def _value(datum: Any) -> float:
    if isinstance(datum, torch.Tensor):
        return float(datum.detach().float().cpu().item())
    return float(datum)


class Backend(abc.ABC):
    """A plot with a ``title``: ``add_data`` (lines) and ``add_histogram``."""

    def __init__(self, title: str | None) -> None:
        self._title = title or ""

    @property
    def title(self) -> str:
        """The figure / TensorBoard tag title."""
        return self._title

    @abc.abstractmethod
    def add_data(self, module_name: str, datum: Any, step: int) -> None:
        """Add the point ``(step, datum)`` to the line of ``module_name``."""

    @abc.abstractmethod
    def add_histogram(self, module_name: str, datum: Any, step: int) -> None:
        """Add the values ``datum`` (not their histogram) for ``module_name`` at ``step``."""


class NullBackend(Backend):
    """Plots nothing (``backend=None``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(kwargs.get("title"))

    def add_data(self, module_name: str, datum: Any, step: int) -> None:
        return None

    def add_histogram(self, module_name: str, datum: Any, step: int) -> None:
        return None


class TBBackend(Backend):
    """TensorBoard: ``TBBackend(title=..., bins=50, log_dir=None)`` (see the module)."""

    info: str = "n/a"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("title", None))
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "backend='tb' writes TensorBoard event files and needs the tensorboard package: "
                "pip install 'unitrain[tensorboard]'; or pass backend='mpl' or backend=None"
            ) from None
        self._hist_bins = kwargs.pop("bins", 50)
        self.log_dir = kwargs.pop("log_dir", None) or _prefix[0] or "runs"
        self.run_dir = _run_dir(self.log_dir)
        self._writer = SummaryWriter(self.run_dir)
        self._writer.add_text("run_conf", TBBackend.info)
        atexit.register(_close_at_exit, weakref.ref(self._writer))

    def add_data(self, module_name: str, datum: Any, step: int) -> None:
        self._writer.add_scalars(self.title, {module_name: _value(datum)}, global_step=step)

    def add_histogram(self, module_name: str, datum: Any, step: int) -> None:
        values = datum.detach().float().cpu() if isinstance(datum, torch.Tensor) else datum
        self._writer.add_histogram(f"{self.title}: {module_name}", values, step, bins="auto")

    def flush(self) -> None:
        """Write every buffered event to disk (also done when the process exits)."""
        self._writer.flush()
        writers: dict[str, Any] = self._writer.all_writers or {}
        for writer in writers.values():
            writer.flush()


class MPLBackend(Backend):
    """matplotlib: one axes with a line per module; a histogram panel per module.

    ``MPLBackend(title=..., xlabel=..., ylabel=..., ylims=None, redraw_interval=10,
    buffer_size=20, max_hists=10)``; ``figure`` / ``histogram_figure`` hold the drawings
    (``savefig`` them). x values count the points of each line from 1, as in ikkuna.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.get("title"))
        self.xlabel = kwargs.get("xlabel")
        self.ylabel = kwargs.get("ylabel")
        self._ylims = kwargs.get("ylims")
        self._redraw_interval = int(kwargs.get("redraw_interval", 10))
        self._buffer_lim = int(kwargs.get("buffer_size", 20))
        self._max_hists = int(kwargs.get("max_hists", 10))
        self._points = 0
        self.figure: Any = None
        self.histogram_figure: Any = None
        self._ax: Any = None
        self._lines: dict[str, Any] = {}
        self._hist_axes: dict[str, Any] = {}
        self._buffer: dict[str, list[torch.Tensor]] = defaultdict(list)
        self.histograms: dict[str, list[tuple[Any, Any]]] = defaultdict(list)

    @staticmethod
    def _pyplot() -> Any:
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ConfigError(
                "backend='mpl' draws with matplotlib, which is not installed: pip install "
                "matplotlib; or pass backend='tb' or backend=None"
            ) from None
        return plt

    def add_data(self, module_name: str, datum: Any, step: int) -> None:
        plt = self._pyplot()
        if self.figure is None:
            self.figure, self._ax = plt.subplots()
            self.figure.suptitle(self.title)
            self._ax.set_xlabel(self.xlabel or "")
            self._ax.set_ylabel(self.ylabel or "")
        line = self._lines.get(module_name)
        if line is None:
            line = self._lines[module_name] = self._ax.plot([], [], label=module_name)[0]
            self._ax.legend(ncol=2)
        xs, ys = list(line.get_xdata()), list(line.get_ydata())
        line.set_data([*xs, len(xs) + 1], [*ys, _value(datum)])
        if self._points % self._redraw_interval == 0:
            self._redraw(self.figure, plt)
        self._points += 1

    def _redraw(self, figure: Any, plt: Any) -> None:
        if self._ax is not None:
            self._ax.relim()
            self._ax.autoscale_view(scaley=True)
            if self._ylims:
                self._ax.set_ylim(self._ylims)
        figure.canvas.draw_idle()
        if plt.isinteractive():
            figure.canvas.flush_events()

    def add_histogram(self, module_name: str, datum: Any, step: int) -> None:
        plt = self._pyplot()
        values = (
            datum.detach().float().reshape(-1).cpu() if isinstance(datum, torch.Tensor) else datum
        )
        self._buffer[module_name].append(torch.as_tensor(values).reshape(-1))
        if len(self._buffer[module_name]) < self._buffer_lim:
            return
        merged = torch.cat(self._buffer[module_name]).numpy()
        self._buffer[module_name] = []
        import numpy

        counts, edges = numpy.histogram(merged, bins=50, density=True)
        kept = self.histograms[module_name]
        kept.append((counts, edges))
        del kept[: -self._max_hists]
        if self.histogram_figure is None:
            self.histogram_figure = plt.figure(figsize=(8, 10))
            self.histogram_figure.suptitle(self.title)
        if module_name not in self._hist_axes:
            self._hist_axes[module_name] = None
            for index, name in enumerate(self._hist_axes):
                if self._hist_axes[name] is not None:
                    self._hist_axes[name].remove()
                axes = self.histogram_figure.add_subplot(len(self._hist_axes), 1, index + 1)
                self._hist_axes[name] = axes
        for name, axes in self._hist_axes.items():
            axes.clear()
            axes.set_title(name)
            history = self.histograms[name]
            for age, (hist_counts, hist_edges) in enumerate(reversed(history)):
                shade = 0.2 + 0.8 * (1 - age / max(len(history), 1))
                axes.stairs(hist_counts, hist_edges, color=(0.78, 0.25, 0.09, shade))
            axes.set_ylabel("frequency")
        self._redraw(self.histogram_figure, plt)
