"""``unitrain report RUN [RUN ...]``: an HTML page and PNGs of runs' curves (matplotlib extra).

Drawn from each run's ``metrics.jsonl`` (see :mod:`unitrain.report.records`) and ``run.json``:
the run's config, hyperparameters, commit, times, versions, plugins and best values (see
:mod:`unitrain.report.sections`), loss and each metric per split over global steps, the
learning rate and, when the message bus recorded them, per-layer heatmaps. Several runs (or
an experiment folder) make one comparison page, one colour per run. :func:`watch_report`
rewrites the page while a run trains.
"""

from typing import TYPE_CHECKING

from unitrain.lazy import lazy_exports

if TYPE_CHECKING:
    from unitrain.report.loaded import ReportRun
    from unitrain.report.lr_log import LearningRateLog
    from unitrain.report.records import Metrics, read_metrics
    from unitrain.report.watch import watch_report
    from unitrain.report.write import default_out, write_report

# Names load on first use (PEP 562): `unitrain fit` logs the learning rate with
# LearningRateLog and needs none of the page, the plots or the metrics reader.
_LAZY = {
    "LearningRateLog": "unitrain.report.lr_log",
    "Metrics": "unitrain.report.records",
    "ReportRun": "unitrain.report.loaded",
    "default_out": "unitrain.report.write",
    "read_metrics": "unitrain.report.records",
    "watch_report": "unitrain.report.watch",
    "write_report": "unitrain.report.write",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "LearningRateLog",
    "Metrics",
    "ReportRun",
    "default_out",
    "read_metrics",
    "watch_report",
    "write_report",
]
