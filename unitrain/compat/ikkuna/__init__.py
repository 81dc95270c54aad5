"""ikkuna on unitrain. Migration is one substitution: ``ikkuna`` becomes
``unitrain.compat.ikkuna`` in the import lines (``unitrain.compat.ikkuna.export``,
``.export.messages``, ``.export.subscriber``, ``.utils``, ``.models``, ``.visualization``),
and an ikkuna script (Exporter + subscribers + its own loop) runs unchanged. The same
subscribers also work inside a unitrain ``fit`` (``unitrain.bus.attach(trainer, subscriber)``).

What differs from ikkuna on purpose, each explained where it lives:

- :mod:`.export.export` (the Exporter): nothing is monkeypatched; gradients come from tensor
  hooks; ``batch_finished`` and the step's ``weight_updates`` belong to their own batch (ikkuna
  published them one batch late, and never for the last batch: the ratio subscriber's
  one-batch lag); every epoch starts at ``train_step`` 0; evaluation forwards publish nothing.
- :mod:`.messages`: one step's messages are delivered together when the step ends; topics are
  checked at the first delivery; the default bus is made on first use.
- :mod:`.subscriber`: ``CallbackSubscriber`` works (ikkuna's raised ``KeyError``);
  ``RatioSubscriber(absolute=False)`` is refused; ``LossSubscriber`` also publishes
  ``train_loss``.
- :mod:`.accuracy`: the test accuracy is over samples, the model in eval mode.
- :mod:`.export.subscriber.svcca`: SVCCA computed with torch; no ``HessianEigenSubscriber``.
- :mod:`.visualization.backend`: events flushed at exit; 2-D matplotlib histograms.
- :mod:`.utils`: ``freeze_module`` and ``initialize_model`` really act; ``load_dataset``
  needs torchvision and has no ``ImageNetDogs``.
"""

from unitrain.bus.subscription import Subscription, SynchronizedSubscription
from unitrain.compat.ikkuna import export, models, utils, visualization
from unitrain.compat.ikkuna.accuracy import TestAccuracySubscriber
from unitrain.compat.ikkuna.export.export import Exporter
from unitrain.compat.ikkuna.export.subscriber.svcca import SVCCASubscriber
from unitrain.compat.ikkuna.messages import (
    DATA_KINDS,
    META,
    META_KINDS,
    Message,
    MessageBundle,
    MessageBus,
    ModuleMessage,
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
from unitrain.compat.ikkuna.utils import NamedModule, freeze_module

__version__ = "0.1.0post2"  # the ikkuna API this adapter follows

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
    "SVCCASubscriber",
    "SpectralNormSubscriber",
    "Subscriber",
    "Subscription",
    "SumSubscriber",
    "SynchronizedSubscription",
    "TestAccuracySubscriber",
    "TrainAccuracySubscriber",
    "VarianceSubscriber",
    "export",
    "freeze_module",
    "get_default_bus",
    "models",
    "utils",
    "visualization",
]
