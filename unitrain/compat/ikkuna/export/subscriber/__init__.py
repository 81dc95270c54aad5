"""``ikkuna.export.subscriber`` at its unitrain path: the base classes and every shipped
subscriber (ikkuna found the shipped ones through entry points; here they are plain names).

Not provided: ``HessianEigenSubscriber`` (it needs double backward through the user's loss
on every sampled batch; use a native plugin for curvature) and ``BatchedSVCCASubscriber``.
"""

from unitrain.compat.ikkuna.export.subscriber.condition import ConditionNumberSubscriber
from unitrain.compat.ikkuna.export.subscriber.histogram import HistogramSubscriber
from unitrain.compat.ikkuna.export.subscriber.loss import LossSubscriber
from unitrain.compat.ikkuna.export.subscriber.mean import MeanSubscriber
from unitrain.compat.ikkuna.export.subscriber.message_mean import MessageMeanSubscriber
from unitrain.compat.ikkuna.export.subscriber.norm import NormSubscriber
from unitrain.compat.ikkuna.export.subscriber.ratio import RatioSubscriber
from unitrain.compat.ikkuna.export.subscriber.spectral_norm import SpectralNormSubscriber
from unitrain.compat.ikkuna.export.subscriber.subscriber import (
    CallbackSubscriber,
    PlotSubscriber,
    Subscriber,
    Subscription,
    SynchronizedSubscription,
)
from unitrain.compat.ikkuna.export.subscriber.sum import SumSubscriber
from unitrain.compat.ikkuna.export.subscriber.svcca import SVCCASubscriber
from unitrain.compat.ikkuna.export.subscriber.test_accuracy import TestAccuracySubscriber
from unitrain.compat.ikkuna.export.subscriber.train_accuracy import TrainAccuracySubscriber
from unitrain.compat.ikkuna.export.subscriber.variance import VarianceSubscriber

__all__ = [
    "CallbackSubscriber",
    "ConditionNumberSubscriber",
    "HistogramSubscriber",
    "LossSubscriber",
    "MeanSubscriber",
    "MessageMeanSubscriber",
    "NormSubscriber",
    "PlotSubscriber",
    "RatioSubscriber",
    "SVCCASubscriber",
    "SpectralNormSubscriber",
    "Subscriber",
    "Subscription",
    "SumSubscriber",
    "SynchronizedSubscription",
    "TestAccuracySubscriber",
    "TrainAccuracySubscriber",
    "VarianceSubscriber",
]
