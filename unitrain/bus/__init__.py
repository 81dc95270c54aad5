"""The message bus: live, per-module introspection of training, near zero cost.

``bus = attach(trainer, NormSubscriber("activations"), BusLog(every=10))`` registers the
bus plugin and the subscribers; each training step's data (activations, gradients,
weights, updates, loss, outputs ...) arrives once per step through the hook
``on_bus_bundles(state, bundles)``. See :mod:`unitrain.bus.bus` for the step timeline.
"""

from unitrain.bus.bundles import StepBundles
from unitrain.bus.bus import MessageBus, attach
from unitrain.bus.kinds import MODULE_KINDS, NETWORK_KINDS, TopicRegistry
from unitrain.bus.log import BusLog, LogRow
from unitrain.bus.messages import META, Message, MessageBundle, ModuleKey
from unitrain.bus.plot import heatmap_png
from unitrain.bus.subscriber import Subscriber
from unitrain.bus.subscribers import (
    DEFAULT_LAYER_STATS,
    CallbackSubscriber,
    ConditionNumberSubscriber,
    FreezeSubscriber,
    HistogramSubscriber,
    LayerStats,
    LossSubscriber,
    MeanSubscriber,
    MessageMeanSubscriber,
    NormSubscriber,
    RatioSubscriber,
    SpectralNormSubscriber,
    StatisticSubscriber,
    SumSubscriber,
    TestAccuracySubscriber,
    TrainAccuracySubscriber,
    VarianceSubscriber,
    freeze_module,
)
from unitrain.bus.subscription import Subscription, SynchronizedSubscription
from unitrain.bus.taps import Taps, select_modules

__all__ = [
    "META",
    "MODULE_KINDS",
    "NETWORK_KINDS",
    "BusLog",
    "CallbackSubscriber",
    "ConditionNumberSubscriber",
    "DEFAULT_LAYER_STATS",
    "FreezeSubscriber",
    "HistogramSubscriber",
    "LayerStats",
    "LogRow",
    "LossSubscriber",
    "MeanSubscriber",
    "Message",
    "MessageBundle",
    "MessageBus",
    "MessageMeanSubscriber",
    "ModuleKey",
    "NormSubscriber",
    "RatioSubscriber",
    "SpectralNormSubscriber",
    "StatisticSubscriber",
    "StepBundles",
    "Subscriber",
    "Subscription",
    "SumSubscriber",
    "SynchronizedSubscription",
    "Taps",
    "TestAccuracySubscriber",
    "TopicRegistry",
    "TrainAccuracySubscriber",
    "VarianceSubscriber",
    "attach",
    "freeze_module",
    "heatmap_png",
    "select_modules",
]
