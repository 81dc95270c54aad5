"""``ikkuna.export.subscriber.subscriber`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    CallbackSubscriber,
    PlotSubscriber,
    Subscriber,
    Subscription,
    SynchronizedSubscription,
)

__all__ = [
    "CallbackSubscriber",
    "PlotSubscriber",
    "Subscriber",
    "Subscription",
    "SynchronizedSubscription",
]
