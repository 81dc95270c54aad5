"""``aitoolbox.experiment.result_package.torch_metrics_packages``: a torchmetrics metric
(or ``MetricCollection``) as a result package."""

from __future__ import annotations

from typing import Any

from unitrain.compat.aitoolbox.experiment.result_package.abstract_result_packages import (
    AbstractResultPackage,
)

__all__ = ["TorchMetricsPackage"]


class TorchMetricsPackage(AbstractResultPackage):
    """Results of ``torch_metrics(y_predicted, y_true)``, each name suffixed ``_PTLMetrics``
    (a single value is named after the metric's class). Inputs stay tensors."""

    def __init__(self, torch_metrics: Any) -> None:
        super().__init__("Torch Metrics", np_array=False)
        self.metric = torch_metrics

    def prepare_results_dict(self) -> dict[str, Any]:
        result = self.metric(self.y_predicted, self.y_true)
        if not isinstance(result, dict):
            result = {type(self.metric).__name__: result}
        return {f"{name}_PTLMetrics": value for name, value in result.items()}

    def metric_compute(self) -> Any:
        """The metric's value over everything it has seen (``metric.compute()``)."""
        return self.metric.compute()

    def metric_reset(self) -> None:
        """Forget what the metric has seen (``metric.reset()``)."""
        self.metric.reset()
