"""The shipped subscribers: statistics, matrix measures, training signals, actions."""

from unitrain.bus.subscribers.control import CallbackSubscriber, FreezeSubscriber, freeze_module
from unitrain.bus.subscribers.layer_stats import DEFAULT_LAYER_STATS, LayerStats
from unitrain.bus.subscribers.matrix import (
    ConditionNumberSubscriber,
    HistogramSubscriber,
    SpectralNormSubscriber,
)
from unitrain.bus.subscribers.stats import (
    MeanSubscriber,
    MessageMeanSubscriber,
    NormSubscriber,
    RatioSubscriber,
    StatisticSubscriber,
    SumSubscriber,
    VarianceSubscriber,
)
from unitrain.bus.subscribers.training import (
    LossSubscriber,
    TestAccuracySubscriber,
    TrainAccuracySubscriber,
)

__all__ = [
    "CallbackSubscriber",
    "ConditionNumberSubscriber",
    "DEFAULT_LAYER_STATS",
    "FreezeSubscriber",
    "HistogramSubscriber",
    "LayerStats",
    "LossSubscriber",
    "MeanSubscriber",
    "MessageMeanSubscriber",
    "NormSubscriber",
    "RatioSubscriber",
    "SpectralNormSubscriber",
    "StatisticSubscriber",
    "SumSubscriber",
    "TestAccuracySubscriber",
    "TrainAccuracySubscriber",
    "VarianceSubscriber",
    "freeze_module",
]
