"""``ikkuna.export.subscriber.subscriber`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    Subscriber,
    Subscription,
    SynchronizedSubscription,
    PlotSubscriber,
    CallbackSubscriber,
)

__all__ = ["CallbackSubscriber", "PlotSubscriber", "Subscriber", "Subscription", "SynchronizedSubscription"]
