"""``aitoolbox.torchtrain.callbacks.basic``: stopping and utility callbacks."""

from unitrain.compat.aitoolbox.callbacks.basic import (
    AllPredictionsSame,
    DataSubsetTestRun,
    EarlyStopping,
    FunctionOnTrainLoop,
    ListRegisteredCallbacks,
    TerminateOnNaN,
    ThresholdEarlyStopping,
)

__all__ = [
    "AllPredictionsSame",
    "DataSubsetTestRun",
    "EarlyStopping",
    "FunctionOnTrainLoop",
    "ListRegisteredCallbacks",
    "TerminateOnNaN",
    "ThresholdEarlyStopping",
]
