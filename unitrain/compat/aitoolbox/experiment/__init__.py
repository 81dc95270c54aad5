"""``aitoolbox.experiment``: training history, result packages, metrics, local saving.

As in aitoolbox, the package itself offers the basic result packages. It also offers the
experiment-folder helpers of :mod:`.storage` that the tracking callbacks use (this
package's older flat module).
"""

from unitrain.compat.aitoolbox.experiment.result_package.basic_packages import (
    BinaryClassificationResultPackage,
    ClassificationResultPackage,
    RegressionResultPackage,
)
from unitrain.compat.aitoolbox.experiment.storage import (
    LOCAL_MODES,
    atomic_save,
    checkpoint_payload,
    cloud_url,
    experiment_dir,
    plain,
    save_hyperparams,
    upload,
)

__all__ = [
    "LOCAL_MODES",
    "BinaryClassificationResultPackage",
    "ClassificationResultPackage",
    "RegressionResultPackage",
    "atomic_save",
    "checkpoint_payload",
    "cloud_url",
    "experiment_dir",
    "plain",
    "save_hyperparams",
    "upload",
]
