"""``unitrain report RUN``: an HTML page and PNGs of a run's curves (matplotlib extra).

Drawn from the run's ``metrics.jsonl`` (see :mod:`unitrain.report.records`): loss and each
metric per split over global steps, the learning rate, and, when the message bus recorded
them, per-layer heatmaps of gradient norms and update ratios over steps.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unitrain.report.lr_log import LearningRateLog
    from unitrain.report.records import Metrics, read_metrics
    from unitrain.report.write import write_report

# Names load on first use (PEP 562): `unitrain fit` logs the learning rate with
# LearningRateLog and needs none of the page, the plots or the metrics reader.
_LAZY = {
    "LearningRateLog": "unitrain.report.lr_log",
    "Metrics": "unitrain.report.records",
    "read_metrics": "unitrain.report.records",
    "write_report": "unitrain.report.write",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'unitrain.report' has no attribute {name!r}")
    value = getattr(_import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["LearningRateLog", "Metrics", "read_metrics", "write_report"]
