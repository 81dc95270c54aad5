"""The result packages under their older flat path (see
:mod:`unitrain.compat.aitoolbox.experiment.result_package`)."""

from unitrain.compat.aitoolbox.experiment.result_package.abstract_result_packages import (
    AbstractResultPackage,
    MultipleResultPackageWrapper,
    PreCalculatedResultPackage,
)
from unitrain.compat.aitoolbox.experiment.result_package.basic_packages import (
    BinaryClassificationResultPackage,
    ClassificationResultPackage,
    GeneralResultPackage,
    RegressionResultPackage,
)
from unitrain.compat.aitoolbox.experiment.result_package.torch_metrics_packages import (
    TorchMetricsPackage,
)

__all__ = [
    "AbstractResultPackage",
    "BinaryClassificationResultPackage",
    "ClassificationResultPackage",
    "GeneralResultPackage",
    "MultipleResultPackageWrapper",
    "PreCalculatedResultPackage",
    "RegressionResultPackage",
    "TorchMetricsPackage",
]
