"""ikkuna on unitrain: an ikkuna script (Exporter + subscribers + its own loop) runs with
only its import lines changed; the same subscribers also work inside a unitrain ``fit``
(``unitrain.bus.attach(trainer, subscriber)``). Deliberate fixes of ikkuna bugs are listed
in :mod:`.exporter`, :mod:`.messages` and :mod:`.subscriber`.
"""

from unitrain.bus.subscription import Subscription, SynchronizedSubscription
from unitrain.compat.ikkuna.accuracy import TestAccuracySubscriber
from unitrain.compat.ikkuna.exporter import Exporter
from unitrain.compat.ikkuna.messages import (
    DATA_KINDS,
    META,
    META_KINDS,
    Message,
    MessageBundle,
    MessageBus,
    ModuleMessage,
    NamedModule,
    NetworkMessage,
    get_default_bus,
)
from unitrain.compat.ikkuna.subscriber import (
    CallbackSubscriber,
    ConditionNumberSubscriber,
    HistogramSubscriber,
    LossSubscriber,
    MeanSubscriber,
    MessageMeanSubscriber,
    NormSubscriber,
    PlotSubscriber,
    RatioSubscriber,
    SpectralNormSubscriber,
    Subscriber,
    SumSubscriber,
    TrainAccuracySubscriber,
    VarianceSubscriber,
)
from unitrain.compat.ikkuna.utils import freeze_module

__all__ = [
    "DATA_KINDS",
    "META",
    "META_KINDS",
    "CallbackSubscriber",
    "ConditionNumberSubscriber",
    "Exporter",
    "HistogramSubscriber",
    "LossSubscriber",
    "MeanSubscriber",
    "Message",
    "MessageBundle",
    "MessageBus",
    "MessageMeanSubscriber",
    "ModuleMessage",
    "NamedModule",
    "NetworkMessage",
    "NormSubscriber",
    "PlotSubscriber",
    "RatioSubscriber",
    "SpectralNormSubscriber",
    "Subscriber",
    "Subscription",
    "SumSubscriber",
    "SynchronizedSubscription",
    "TestAccuracySubscriber",
    "TrainAccuracySubscriber",
    "VarianceSubscriber",
    "freeze_module",
    "get_default_bus",
]
