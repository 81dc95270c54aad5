"""``ikkuna.export.subscriber`` at its unitrain path: the base classes and every shipped
subscriber (ikkuna found the shipped ones through entry points; here they are plain names).

``HessianEigenSubscriber`` is always present (ikkuna installed it only with the
``hessian_eigenthings`` package; here the power iteration is the adapter's own).
"""

from unitrain.compat.ikkuna.export.subscriber.condition import ConditionNumberSubscriber
from unitrain.compat.ikkuna.export.subscriber.hessian_eig import HessianEigenSubscriber
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
from unitrain.compat.ikkuna.export.subscriber.svcca import (
    BatchedSVCCASubscriber,
    SVCCASubscriber,
)
from unitrain.compat.ikkuna.export.subscriber.test_accuracy import TestAccuracySubscriber
from unitrain.compat.ikkuna.export.subscriber.train_accuracy import TrainAccuracySubscriber
from unitrain.compat.ikkuna.export.subscriber.variance import VarianceSubscriber

__all__ = [
    "BatchedSVCCASubscriber",
    "CallbackSubscriber",
    "ConditionNumberSubscriber",
    "HessianEigenSubscriber",
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
