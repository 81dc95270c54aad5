"""aitoolbox style on the unitrain engine: change the import prefix, keep the code.

Replacing ``aitoolbox.`` by ``unitrain.compat.aitoolbox.`` in every import is the migration:
``unitrain.compat.aitoolbox.torchtrain.*`` mirrors aitoolbox's module paths
(``torchtrain.train_loop``, ``.model``, ``.multi_loss_optim``, ``.parallel``,
``.data.dataset``, ``.callbacks.*``, ``.schedulers.*``, ``.train_loop.components.*``), and
the flat names (``from unitrain.compat.aitoolbox import TrainLoop``) stay. An aitoolbox
callback may also be handed straight to a native ``unitrain.Trainer(plugins=[...])`` (see
:mod:`.native`). ``TrainLoop.fit`` builds and runs one
:class:`unitrain.Trainer`; each callback becomes a plugin on the one hook spec, with its
``execution_order`` as the unitrain ``order`` and ``device_idx_execution`` as its rank
rule, so aitoolbox callbacks run in one order with native and other-style plugins.
``train_loop_obj`` reads and writes the engine's one state.

As in aitoolbox: optimizers and losses are duck-typed (``step`` / ``zero_grad``;
``backward`` / ``detach``), ``optimizer=None`` makes a loop that only predicts; every loss
is divided by ``grad_accumulation``; ``epoch`` after a fit is the last epoch's index and
setting it before a fit starts there; ``use_amp`` without CUDA trains in full precision
(with a warning).

Differences from aitoolbox, on purpose: files are saved locally unless ``cloud_save_mode``
asks for an fsspec upload (aitoolbox defaulted to S3); a second ``fit`` continues after the
last epoch instead of repeating it; model files load with ``torch.load(weights_only=True)``;
multi-process training comes from launching under ``torchrun`` (``gpu_mode="dp"`` /
``"ddp"`` are refused at ``fit``); end-of-epoch losses are means over batches, as aitoolbox
computed them.
"""

from unitrain.compat.aitoolbox.abstract import AbstractCallback, AbstractExperimentCallback
from unitrain.compat.aitoolbox.callbacks.basic import (
    AllPredictionsSame,
    DataSubsetTestRun,
    EarlyStopping,
    FunctionOnTrainLoop,
    ListRegisteredCallbacks,
    TerminateOnNaN,
    ThresholdEarlyStopping,
)
from unitrain.compat.aitoolbox.callbacks.gradient import (
    GradDistributionPlot,
    GradientStatsPrint,
    GradNormClip,
    GradValueClip,
)
from unitrain.compat.aitoolbox.callbacks.history import (
    MetricHistoryRename,
    ModelTrainHistoryFileWriter,
    ModelTrainHistoryPlot,
    TrainHistoryFormatter,
)
from unitrain.compat.aitoolbox.callbacks.model_load import ModelLoadContinueTraining
from unitrain.compat.aitoolbox.callbacks.model_save import (
    ModelCheckpoint,
    ModelIterationCheckpoint,
    ModelTrainEndSave,
)
from unitrain.compat.aitoolbox.callbacks.performance import (
    ModelPerformanceEvaluation,
    ModelPerformancePrintReport,
)
from unitrain.compat.aitoolbox.callbacks.schedulers import (
    AbstractScheduler,
    ConstantWithWarmupScheduler,
    CosineWithWarmupScheduler,
    GeneralLRSchedulerCallback,
    HardRestartsCosineWithWarmupScheduler,
    LambdaLRScheduler,
    LinearWithWarmupScheduler,
    MultiStepLRScheduler,
    ReduceLROnPlateauMetricScheduler,
    ReduceLROnPlateauScheduler,
    StepLRScheduler,
)
from unitrain.compat.aitoolbox.callbacks.tensorboard import (
    TensorboardFullTracking,
    TensorboardTrainBatchLoss,
    TensorboardTrainHistoryMetric,
)
from unitrain.compat.aitoolbox.history import TrainingHistory
from unitrain.compat.aitoolbox.messages import MessageHandling, MessageService
from unitrain.compat.aitoolbox.model import (
    AbstractModelFeedDefinition,
    ModelWrap,
    MultiLoss,
    MultiOptimizer,
    TTBasicModel,
    TTModel,
)
from unitrain.compat.aitoolbox.predictions import (
    ModelPredictionStore,
    append_predictions,
    torch_cat_transf,
)
from unitrain.compat.aitoolbox.result_packages import (
    AbstractResultPackage,
    BinaryClassificationResultPackage,
    ClassificationResultPackage,
    GeneralResultPackage,
    MultipleResultPackageWrapper,
    RegressionResultPackage,
)

# aitoolbox's top-level names of the torchtrain side (``from aitoolbox import ...``).
from unitrain.compat.aitoolbox.torchtrain.data.dataset import BasicDataset
from unitrain.compat.aitoolbox.torchtrain.parallel import TTDataParallel
from unitrain.compat.aitoolbox.tracking import (
    TrainLoopCheckpoint,
    TrainLoopCheckpointEndSave,
    TrainLoopEndSave,
)
from unitrain.compat.aitoolbox.train_loop import TrainLoop

__all__ = [
    "AbstractCallback",
    "AbstractExperimentCallback",
    "AbstractModelFeedDefinition",
    "AbstractResultPackage",
    "AbstractScheduler",
    "AllPredictionsSame",
    "BasicDataset",
    "BinaryClassificationResultPackage",
    "ClassificationResultPackage",
    "ConstantWithWarmupScheduler",
    "CosineWithWarmupScheduler",
    "DataSubsetTestRun",
    "EarlyStopping",
    "FunctionOnTrainLoop",
    "GeneralLRSchedulerCallback",
    "GeneralResultPackage",
    "GradDistributionPlot",
    "GradNormClip",
    "GradValueClip",
    "GradientStatsPrint",
    "HardRestartsCosineWithWarmupScheduler",
    "LambdaLRScheduler",
    "LinearWithWarmupScheduler",
    "ListRegisteredCallbacks",
    "MessageHandling",
    "MessageService",
    "MetricHistoryRename",
    "ModelCheckpoint",
    "ModelIterationCheckpoint",
    "ModelLoadContinueTraining",
    "ModelPerformanceEvaluation",
    "ModelPerformancePrintReport",
    "ModelPredictionStore",
    "ModelTrainEndSave",
    "ModelTrainHistoryFileWriter",
    "ModelTrainHistoryPlot",
    "ModelWrap",
    "MultiLoss",
    "MultiOptimizer",
    "MultiStepLRScheduler",
    "MultipleResultPackageWrapper",
    "ReduceLROnPlateauMetricScheduler",
    "ReduceLROnPlateauScheduler",
    "RegressionResultPackage",
    "StepLRScheduler",
    "TTBasicModel",
    "TTDataParallel",
    "TTModel",
    "TensorboardFullTracking",
    "TensorboardTrainBatchLoss",
    "TensorboardTrainHistoryMetric",
    "TerminateOnNaN",
    "ThresholdEarlyStopping",
    "TrainHistoryFormatter",
    "TrainLoop",
    "TrainLoopCheckpoint",
    "TrainLoopCheckpointEndSave",
    "TrainLoopEndSave",
    "TrainingHistory",
    "append_predictions",
    "torch_cat_transf",
]
