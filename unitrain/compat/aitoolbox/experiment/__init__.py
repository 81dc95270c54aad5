"""``aitoolbox.experiment``: training history, result packages, metrics, local saving.

As in aitoolbox, the package itself offers the basic result packages (its ``import *``
gives exactly those). It also offers, by name, the experiment-folder helpers of
:mod:`.storage` that the tracking callbacks use (this package's older flat module).
"""

from unitrain.compat.aitoolbox.experiment.result_package.basic_packages import (
    BinaryClassificationResultPackage,
    ClassificationResultPackage,
    RegressionResultPackage,
)
from unitrain.compat.aitoolbox.experiment.storage import LOCAL_MODES as LOCAL_MODES
from unitrain.compat.aitoolbox.experiment.storage import atomic_save as atomic_save
from unitrain.compat.aitoolbox.experiment.storage import checkpoint_payload as checkpoint_payload
from unitrain.compat.aitoolbox.experiment.storage import cloud_url as cloud_url
from unitrain.compat.aitoolbox.experiment.storage import experiment_dir as experiment_dir
from unitrain.compat.aitoolbox.experiment.storage import plain as plain
from unitrain.compat.aitoolbox.experiment.storage import save_hyperparams as save_hyperparams
from unitrain.compat.aitoolbox.experiment.storage import upload as upload

__all__ = [
    "BinaryClassificationResultPackage",
    "ClassificationResultPackage",
    "RegressionResultPackage",
]
